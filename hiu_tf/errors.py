"""Errors that the command line reports as one line, without a traceback."""


class UserError(Exception):
    """Bad input from the user (a wrong path, value or combination of flags)."""
