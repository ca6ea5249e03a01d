"""Errors a user can cause. Each carries one sentence the UI shows as is.

Pages catch ``ParleyError`` and show ``str(exc)``; routes map them to status
codes. Anything else is a bug and is logged, never shown as a traceback.
"""


class ParleyError(Exception):
    """Base class: the message is a complete sentence for the user."""

    http_status = 400


class ValidationError(ParleyError):
    """The input is wrong (bad number, empty body, file too large...)."""


class PermissionDenied(ParleyError):
    """The acting user may not see or do this."""

    http_status = 403


class NotFound(ParleyError):
    """The thing asked for does not exist (or is not visible to the user)."""

    http_status = 404


class Conflict(ParleyError):
    """The request clashes with existing data (duplicate contact...)."""

    http_status = 409


class SendingBlocked(ParleyError):
    """A domain rule stops a message (opted out, window closed, sender off)."""


class SignInError(ParleyError):
    """Wrong password, unknown user, or a locked account."""

    http_status = 401


class DatabaseLocked(ParleyError):
    """Another process owns the database file."""


class StorageFailed(ParleyError):
    """The data folder cannot take the write (disk full, read-only); nothing was changed."""

    http_status = 503
