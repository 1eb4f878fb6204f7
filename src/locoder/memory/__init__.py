from locoder.memory.notes import append_note, recent_notes

__all__ = ["append_note", "recent_notes"]
