"""Errors that describe a user's mistake; entry points print them as one line, no traceback."""


class UserError(Exception):
    """Bad input or configuration that the user can fix; the message says how."""


class DataError(UserError):
    """A data source that is missing, empty or unusable."""


class MissingFileError(UserError, FileNotFoundError):
    """A file named by the user (checkpoint, weights) that does not exist."""


class SettingError(UserError, ValueError):
    """A setting with a value that cannot work (e.g. `data.batch_size=0`), found before any work."""
