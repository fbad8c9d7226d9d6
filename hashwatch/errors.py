"""Exceptions shared across hashwatch.

``UserError`` is for problems the user can fix (a bad option, a malformed list row, a missing file). Its
message is shown as-is, on one line, so it must say what is wrong and where, and never include image content.
"""


class UserError(Exception):
    """A problem with input or configuration that the user can fix; shown as a one-line message."""
