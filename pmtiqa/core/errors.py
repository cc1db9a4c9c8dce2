"""Errors the user can fix. The command line prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input: a missing or corrupt file, a malformed label file, bad params, a bad argument.

    The message names the file, key or value at fault.
    """
