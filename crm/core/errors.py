"""Errors that carry one sentence a user can read."""


class ServiceError(Exception):
    """A business rule refused the change; ``str(exc)`` is shown to the user."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    """The record does not exist or the user may not see it."""
