"""locoder: a local coding agent for open-source models.

Importing this package has no side effects: no directory is created, no model is loaded.
"""

__version__ = "0.1.0"
