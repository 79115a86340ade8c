"""The one error type that the CLI turns into a single line on stderr."""

from __future__ import annotations


class LstmpruneError(Exception):
    """Bad input: the message says what was received and what was expected.

    `option` names the library parameter the message is about, by the word the message uses for it
    (`min_units`); the CLI shows its flag (`--min-units`) in its place. The library never writes flags.
    """

    def __init__(self, message: str, *, option: str | None = None):
        super().__init__(message)
        self.option = option
