"""Learning from use: the contextual bandit over tools (``bandit.py``) and where it persists (``persistence.py``)."""
