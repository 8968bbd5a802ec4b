"""Errors that the CLI turns into one-line messages instead of tracebacks."""


class ReelhouseError(Exception):
    """A problem the user can fix: missing tool, bad argument, broker not running."""
