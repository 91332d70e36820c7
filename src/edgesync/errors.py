"""The one tree of edgesync exceptions.

Every error edgesync raises on purpose is an :class:`EdgesyncError`. Each class
carries a stable wire ``code`` (part of the protocol: changing one is a breaking
change) and its own retry classification, so that callers read attributes
instead of matching message strings::

    EdgesyncError                     .code, .retryable, .fatal
    ├── ConfigError                   bad configuration or arguments
    ├── PluginError                   a plugin failed to load or registered badly
    ├── PackError                     an edge could not be packaged (edgesync-pack)
    ├── WireFormatError               an undecodable request or response
    ├── DeltaError                    the diff/patch engine refused its input
    │   ├── UnsupportedFormatError    not a delta edgesync can read (or a newer version)
    │   ├── CorruptDeltaError         truncated, damaged, or fails its result hash
    │   ├── BaseMismatchError         made for another base: resend against the right one
    │   └── LimitExceededError        output would exceed a configured limit
    ├── UnauthorizedError             no bearer token, or an unknown one (edge API)
    ├── EdgeUnreachableError          retryable: the device cannot reach its edge
    ├── CertificateMismatchError      fatal: the edge's certificate is not the pinned one
    └── ProviderError                 a cloud provider refused or failed (.path)
        ├── NotFoundError             (also a LookupError)
        ├── NotAFileError             the path is a folder
        ├── RevisionConflictError     a conditional write lost to another change (.current)
        ├── InvalidPathError          the name is not allowed
        ├── PermissionDeniedError     fatal: the account may not touch that path
        ├── UnsupportedError          an optional operation the provider lacks
        ├── QuotaExceededError        fatal: the account is full
        ├── AuthError                 fatal until the user re-authorises
        │   └── TokenExpiredError     retryable after a token refresh
        └── TransientError            retryable
            ├── RateLimitedError      .retry_after seconds, when the service said
            └── ServiceUnavailableError

Across the network an error travels as ``{"code": ..., "message": ...}`` JSON
(see :meth:`EdgesyncError.to_dict`), never as a pickle. This module imports
nothing outside the standard library.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "BaseMismatchError",
    "CertificateMismatchError",
    "ConfigError",
    "CorruptDeltaError",
    "DeltaError",
    "EdgeUnreachableError",
    "EdgesyncError",
    "InvalidPathError",
    "LimitExceededError",
    "NotAFileError",
    "NotFoundError",
    "PackError",
    "PermissionDeniedError",
    "PluginError",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitedError",
    "RevisionConflictError",
    "ServiceUnavailableError",
    "TokenExpiredError",
    "TransientError",
    "UnauthorizedError",
    "UnsupportedError",
    "UnsupportedFormatError",
    "WireFormatError",
]


class EdgesyncError(Exception):
    """Base of every error edgesync raises on purpose.

    :cvar code: stable identifier used on the wire (``{"code": ...}``).
    :cvar retryable: the same call may succeed later, unchanged.
    :cvar fatal: nothing will succeed until a person acts (re-link, free space).
    """

    code: ClassVar[str] = "edgesync_error"
    retryable: ClassVar[bool] = False
    fatal: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message,))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this error: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


class ConfigError(EdgesyncError):
    """A configuration value or argument is invalid."""

    code = "config_error"
    fatal = True


class PluginError(EdgesyncError):
    """A plugin failed to load, or registered an invalid or duplicate name."""

    code = "plugin_error"
    fatal = True


class PackError(EdgesyncError):
    """An edge could not be packaged (``edgesync-pack``): a compiled dependency,
    a file an image cannot carry, an unsupported target Python, a failed build."""

    code = "pack_error"
    fatal = True


class WireFormatError(EdgesyncError):
    """A request or response body could not be decoded."""

    code = "wire_format_error"


# --- the delta engine -------------------------------------------------------


class DeltaError(EdgesyncError):
    """The diff/patch engine refused its input. Nothing was written.

    Every failure of :func:`edgesync.delta.patch` and
    :func:`edgesync.delta.describe` on bad input is a subclass of this; no
    other exception escapes them.
    """

    code = "delta_error"


class UnsupportedFormatError(DeltaError):
    """The bytes are not a delta edgesync can read.

    Raised for a missing magic number and for a format version newer than
    this release understands (upgrade edgesync to read it).
    """

    code = "unsupported_delta_format"


class CorruptDeltaError(DeltaError):
    """The delta is truncated or damaged, or its result fails the hash check."""

    code = "corrupt_delta"


class BaseMismatchError(DeltaError):
    """The delta was made against another base than the one given.

    The sender should make a new delta against the receiver's current
    version, or send the whole file.

    :ivar expected: SHA-256 (hex) of the base the delta was made for.
    :ivar actual: SHA-256 (hex) of the base that was given.
    """

    code = "base_mismatch"

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.__class__, self.message, {"expected": self.expected,
                                                          "actual": self.actual}))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "expected": self.expected, "actual": self.actual}


class LimitExceededError(DeltaError):
    """Applying the delta would exceed a limit (size, member count, expansion).

    :ivar limit: the name of the :class:`edgesync.delta.Limits` field.
    """

    code = "limit_exceeded"

    def __init__(self, message: str, *, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.__class__, self.message, {"limit": self.limit}))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "limit": self.limit}


# --- cloud providers ----------------------------------------------------------


class ProviderError(EdgesyncError):
    """A cloud provider refused or failed an operation.

    Plugins raise these from one translation point, with ``raise ... from exc``,
    so the SDK's own exception stays available as ``__cause__``.

    :ivar path: the remote path concerned, or ``""`` when none is.
    """

    code = "provider_error"

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def _fields(self) -> dict[str, Any]:
        return {"path": self.path}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.__class__, self.message, self._fields()))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), **self._fields()}


class NotFoundError(ProviderError, LookupError):
    """No file at that path."""

    code = "not_found"


class NotAFileError(ProviderError):
    """The path names a folder (or something else that is not a file)."""

    code = "not_a_file"


class RevisionConflictError(ProviderError):
    """A conditional write found another revision than the one it expected.

    Also raised by a create-only write when a file already exists.

    :ivar current: the revision the service holds now, when it said, else ``None``
        (``None`` too when the file no longer exists).
    """

    code = "revision_conflict"

    def __init__(self, message: str, *, path: str = "", current: str | None = None) -> None:
        super().__init__(message, path=path)
        self.current = current

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "current": self.current}


class InvalidPathError(ProviderError):
    """The path is not allowed (by edgesync or by the service)."""

    code = "invalid_path"


class PermissionDeniedError(ProviderError):
    """The account may not read or write that path."""

    code = "permission_denied"
    fatal = True


class UnsupportedError(ProviderError):
    """The provider does not offer this optional operation.

    The default of every optional :class:`~edgesync.providers.Provider` method;
    :attr:`~edgesync.providers.Provider.capabilities` says in advance.
    """

    code = "unsupported"


class QuotaExceededError(ProviderError):
    """The account is out of space."""

    code = "quota_exceeded"
    fatal = True


class AuthError(ProviderError):
    """The credentials were refused; a person must re-authorise."""

    code = "auth_error"
    fatal = True


class TokenExpiredError(AuthError):
    """The access token expired; refreshing it and retrying may succeed."""

    code = "token_expired"
    retryable = True
    fatal = False


class TransientError(ProviderError):
    """A temporary failure; the same call may succeed later."""

    code = "transient_error"
    retryable = True


class RateLimitedError(TransientError):
    """The service asked us to slow down.

    :ivar retry_after: seconds the service asked us to wait, or ``None``.
    """

    code = "rate_limited"

    def __init__(self, message: str, *, path: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message, path=path)
        self.retry_after = retry_after

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "retry_after": self.retry_after}


class ServiceUnavailableError(TransientError):
    """The service answered 5xx, reset the connection, or timed out."""

    code = "service_unavailable"


# --- the edge's HTTP API --------------------------------------------------------


class EdgeUnreachableError(EdgesyncError):
    """The device cannot reach its edge (no route, refused, timed out, 5xx).

    The agent keeps the save in its outbox and sends it when the edge is back.
    """

    code = "edge_unreachable"
    retryable = True


class CertificateMismatchError(EdgesyncError):
    """The edge presented another certificate than the one pinned at pairing.

    Either the edge was set up again (then pair again with the fingerprint it
    prints), or something is impersonating it: nothing was sent.
    """

    code = "certificate_mismatch"
    fatal = True



class UnauthorizedError(EdgesyncError):
    """The request carried no bearer token, or one the edge does not know.

    Create a token on the edge with ``edgesync edge token add USER`` and pair
    the device again.
    """

    code = "unauthorized"
    fatal = True


def _rebuild(cls: type[EdgesyncError], message: str, fields: dict[str, Any]) -> EdgesyncError:
    """Unpickle helper for errors with keyword-only fields."""
    return cls(message, **fields)  # type: ignore[call-arg]
