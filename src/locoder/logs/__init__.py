"""Log reading: key events, collapsed stack traces (``digest.py``, ``traces.py``). Imported where used."""
