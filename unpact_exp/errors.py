"""Exceptions a user can cause, each carrying a message that names the fix."""


class UnpactConfigError(ValueError):
    """A configuration value is invalid; the message names the value and the valid choices."""


class DataError(ValueError):
    """A dataset is missing, empty or malformed; the message names the file and field."""


class ModelLoadError(RuntimeError):
    """A model or tokenizer cannot be loaded; the message says how to point at a local copy."""


class StorageError(RuntimeError):
    """A file cannot be written (disk full, file size limit, read-only folder); the message
    names the place, the fix, and what rerunning the same command does."""


USER_ERRORS = (UnpactConfigError, DataError, ModelLoadError, StorageError)
"""The errors a user causes and fixes: entry points print their message, not a traceback."""
