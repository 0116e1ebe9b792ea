"""Errors that carry their retry policy (product.md, principle 7)."""

from __future__ import annotations


class ModelshipError(Exception):
    """Base of the operator's own errors."""


class TransientError(ModelshipError):
    """Trouble that may pass (connection refused, 5xx, conflict): retry with backoff."""


class InvalidObjectError(ModelshipError):
    """The API server rejected what we sent (400/422): a spec problem, not retried in a loop."""


class NotFoundError(ModelshipError):
    """The object does not exist (any more)."""


class AlreadyExistsError(ModelshipError):
    """A create found the object there already (409)."""


class CtlError(ModelshipError):
    """A command-line action that cannot apply now; the message says why (exit 1)."""
