from locoder.memory.notes import append_note, read_notes, recent_notes

__all__ = ["append_note", "read_notes", "recent_notes"]
