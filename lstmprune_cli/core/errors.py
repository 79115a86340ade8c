"""The one error type that the CLI turns into a single line on stderr."""


class LstmpruneError(Exception):
    """Bad input: the message says what was received and what was expected."""
