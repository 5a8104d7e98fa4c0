"""One typed error hierarchy for every provider. Messages are the server's own words.

Kept in core (not providers) so services and the UI can catch them without importing httpx.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every error a provider raises. `message` is safe to show to the user."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        created_ids: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.created_ids = created_ids
        """Objects the failed call did create before failing (e.g. a branch of 5 that stopped at 3)."""

    def __str__(self) -> str:
        prefix = f"{self.status}: " if self.status else ""
        return f"{prefix}{self.message}"


class AuthError(ProviderError):
    """401/403 for a missing or wrong key/token."""


class NotFound(ProviderError):
    """404: the VM, commit, image or route does not exist."""


class Conflict(ProviderError):
    """409: the object is in a state that forbids the action (commit in use, VM sleeping)."""


class QuotaExceeded(ProviderError):
    """Account or plan limits (Vers: 403 with a limit message; Swiftor: 400 on start)."""


class RateLimited(ProviderError):
    """429 after retries ran out; `retry_after` says when to try again."""


class Unavailable(ProviderError):
    """The API cannot be reached, timed out, or answered 408/5xx."""


class BadRequest(ProviderError):
    """400/422: the request was refused as invalid."""


class BadResponse(ProviderError):
    """The server answered something we cannot parse (malformed JSON, schema drift)."""


class Unsupported(ProviderError):
    """The provider cannot do this at all (e.g. branch on Swiftor)."""
