"""The one exception type users see.

Every failure caused by input (a bad model, bad data, a device that went away) is raised as a
PackagerError with a message saying what is wrong and a hint saying what to do. The CLI prints
it as one line and exits with code 2; no traceback.
"""

from __future__ import annotations


class PackagerError(Exception):
    """A user-facing error: what is wrong, and what to do about it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        if self.hint:
            text += f"; {self.hint.rstrip('.')}"
        return " ".join(text.split()) + "."
