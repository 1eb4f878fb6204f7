"""The one error of this folder: a change that cannot be kept, shown or undone, with why."""

from __future__ import annotations

from locoder.exceptions import LocoderError


class ChangeError(LocoderError):
    """Committing, undoing or showing a task's change failed or was refused; the message says why."""

    exit_code = 1
