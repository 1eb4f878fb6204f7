"""Knowledge beyond the code: the memory store, documentation passages, context7, and evidence gathering.

``Knowledge`` holds a session's memory store, embedder and context7 client, each made on first use.
"""

from __future__ import annotations

from locoder.config import Settings


class Knowledge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedder = None
        self._store = None
        self._context7 = None

    @property
    def embedder(self):
        if self._embedder is None:
            from locoder.index.embed import LazyEmbedder

            self._embedder = LazyEmbedder()
        return self._embedder

    @property
    def store(self):
        if self._store is None:
            from locoder.memory.store import MemoryStore

            self._store = MemoryStore(self.settings.state_paths, self.embedder)
        return self._store

    @property
    def context7(self):
        """The context7 client, or None when no URL is configured."""
        if self._context7 is None and self.settings.context7_url:
            from locoder.knowledge.context7 import Context7Client

            self._context7 = Context7Client(self.settings.context7_url, self.settings.context7_api_key)
        return self._context7

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def remember(self, note: str) -> str:
        """Save a note in the store and the notes file; without a working embedder, in the notes file
        alone (the store takes it in when it next opens). Returns where it went. Raises ValueError."""
        import sqlite3

        from locoder.exceptions import LocoderError
        from locoder.memory import append_note

        state = self.settings.state_paths
        notes = state.notes
        try:
            if not self.settings.memory:
                return f"noted in {append_note(state, note)}"
            try:
                memory = self.store.add(note, "note")
            except (OSError, sqlite3.Error, LocoderError) as exc:
                path = append_note(state, note)
                return f"noted in {path} (the vector store could not take it now: {exc})"
        except OSError as exc:  # e.g. a FIFO put where the notes file was
            raise LocoderError(f"the note was not saved: {notes} cannot be written ({exc.strerror or exc})") from None
        return f"noted in {notes} (memory #{memory.id})"
