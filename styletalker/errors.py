"""One exception type for problems a user can fix (bad input, missing file, unknown name).

The command line catches :class:`StyletalkerError` and prints its message on one line with a non-zero exit,
never a traceback. Messages name the problem and the fix, e.g. "unknown voice 'xx': choose one of ...".
"""


class StyletalkerError(Exception):
    """An error caused by the user's input; the message says what is wrong and how to fix it."""
