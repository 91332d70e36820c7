"""Test doubles for code that talks to a provider.

- :class:`FaultyProvider` -- wraps a real provider, forwards every call and
  records it, and raises queued :mod:`edgesync.errors` instead of (or after)
  calling through. Tests of the edge use it to check retries, lost responses
  and error handling without a flaky network::

      cloud = FaultyProvider(LocalProvider(LocalOptions(root=tmp, fsync=False)))
      cloud.fail_next("put", RateLimitedError("slow down", retry_after=1.0))
      cloud.fail_after("put", ServiceUnavailableError("connection reset"))
      ...                                  # run the code under test
      assert cloud.calls == [("put", "a.txt"), ("put", "a.txt"), ("put", "a.txt")]

This module does not import pytest; it is usable from any test runner.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import BinaryIO, NamedTuple, TypeVar

from edgesync.errors import EdgesyncError
from edgesync.providers.base import Provider, UploadSession
from edgesync.types import RemoteEntry, Revision, UploadInfo

__all__ = ["FaultyProvider"]

_T = TypeVar("_T")

#: The methods faults can be queued for.
_FAULTABLE = ("stat", "get", "put", "delete")


class _Fault(NamedTuple):
    error: EdgesyncError
    after: bool  # True: call through first, then raise (a lost response)


class FaultyProvider(Provider):
    """A provider that forwards to ``inner`` and fails on request.

    :param inner: the provider that does the work.

    ``name`` and ``facts`` are the inner provider's (copied when the wrapper is
    built). So is :attr:`~edgesync.providers.base.Provider.capabilities`: it is
    derived, as for every provider, from whether the class overrides
    :meth:`open_upload_session`, so ``FaultyProvider(inner)`` builds an instance
    of a subclass that forwards :meth:`open_upload_session` only when the inner
    provider supports resumable upload; otherwise the inherited default raises
    :class:`~edgesync.errors.UnsupportedError`. The wrapper therefore passes
    the capability-honesty checks exactly when the inner provider does, and
    ``isinstance(wrapper, FaultyProvider)`` holds either way.

    Faults are queued per method (``stat``, ``get``, ``put``, ``delete``) and
    consumed first in, first out, one per call; upload sessions are returned
    as the inner provider made them, without faults. All methods may be called
    from several threads.

    :ivar inner: the wrapped provider.
    :ivar calls: ``(method, path)`` of every call, in order, including those
        that failed; read it once the calls under test have returned.

    Example::

        faulty = FaultyProvider(provider)
        faulty.fail_next("stat", ServiceUnavailableError("timed out"), times=2)
        with pytest.raises(ServiceUnavailableError):
            faulty.stat("a.txt")             # not forwarded
        ...
        assert faulty.calls[0] == ("stat", "a.txt")
    """

    def __new__(cls, inner: Provider) -> FaultyProvider:
        # Choose the class whose overrides match the inner provider's, so the
        # derived capabilities tell the truth (see the class docstring).
        if cls is FaultyProvider and inner.capabilities.supports_resumable_upload:
            cls = _ResumableFaultyProvider
        return super().__new__(cls)

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # per instance, as the inner's
        self.facts = inner.facts  # type: ignore[misc]
        self.calls: list[tuple[str, str]] = []
        self._faults: dict[str, deque[_Fault]] = {method: deque() for method in _FAULTABLE}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FaultyProvider({self.inner!r})"

    # --- queueing faults -------------------------------------------------------

    def fail_next(self, method: str, error: EdgesyncError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` without calling through.

        Simulates a request that never reached the service: the inner provider
        is unchanged.

        :param method: ``"stat"``, ``"get"``, ``"put"`` or ``"delete"``.
        :param error: the error to raise (the same instance each time).
        :param times: how many calls fail.
        :raises ValueError: an unknown method or ``times`` below 1.
        :raises TypeError: ``error`` is not an :class:`~edgesync.errors.EdgesyncError`.

        Example::

            faulty.fail_next("put", RateLimitedError("slow down", retry_after=2.0))
        """
        self._queue(method, _Fault(error, after=False), times)

    def fail_after(self, method: str, error: EdgesyncError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` call through, then raise ``error``.

        Simulates a response lost after the service did the work: a ``put``
        is stored, yet the caller sees ``error``. If the inner call itself
        fails, its error propagates and the fault is spent.

        :param method: ``"stat"``, ``"get"``, ``"put"`` or ``"delete"``.
        :param error: the error to raise after the call went through.
        :param times: how many calls fail.
        :raises ValueError: an unknown method or ``times`` below 1.
        :raises TypeError: ``error`` is not an :class:`~edgesync.errors.EdgesyncError`.

        Example::

            faulty.fail_after("put", ServiceUnavailableError("connection reset"))
            # the file is stored; the caller must find out by stat
        """
        self._queue(method, _Fault(error, after=True), times)

    def _queue(self, method: str, fault: _Fault, times: int) -> None:
        if method not in _FAULTABLE:
            raise ValueError(f"faults can be queued for {', '.join(_FAULTABLE)}, "
                             f"not {method!r}")
        if not isinstance(fault.error, EdgesyncError):
            raise TypeError(f"a provider raises only edgesync errors, got "
                            f"{type(fault.error).__name__}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._faults[method].extend([fault] * times)

    # --- forwarding -------------------------------------------------------------

    def _forward(self, method: str, path: str, call: Callable[[], _T]) -> _T:
        with self._lock:
            self.calls.append((method, path))
            queue = self._faults.get(method)
            fault = queue.popleft() if queue else None
        # The inner call runs outside the lock, so that concurrent calls stay
        # concurrent (a create_only race must reach the inner provider as one).
        if fault is not None and not fault.after:
            raise fault.error.with_traceback(None)
        result = call()
        if fault is not None:
            raise fault.error.with_traceback(None)
        return result

    def stat(self, path: str) -> RemoteEntry:
        """Forward :meth:`~edgesync.providers.base.Provider.stat`, unless a fault is queued."""
        return self._forward("stat", path, lambda: self.inner.stat(path))

    def get(self, path: str, dest: BinaryIO) -> RemoteEntry:
        """Forward :meth:`~edgesync.providers.base.Provider.get`, unless a fault is queued."""
        return self._forward("get", path, lambda: self.inner.get(path, dest))

    def put(self, path: str, src: BinaryIO, info: UploadInfo, *,
            if_match: Revision | None = None, create_only: bool = False) -> RemoteEntry:
        """Forward :meth:`~edgesync.providers.base.Provider.put`, unless a fault is queued."""
        return self._forward("put", path, lambda: self.inner.put(
            path, src, info, if_match=if_match, create_only=create_only))

    def delete(self, path: str, *, if_match: Revision | None = None) -> None:
        """Forward :meth:`~edgesync.providers.base.Provider.delete`, unless a fault is queued."""
        return self._forward("delete", path, lambda: self.inner.delete(path, if_match=if_match))


class _ResumableFaultyProvider(FaultyProvider):
    """A :class:`FaultyProvider` around a provider with resumable upload."""

    def open_upload_session(self, path: str, info: UploadInfo, *,
                            if_match: Revision | None = None,
                            create_only: bool = False) -> UploadSession:
        """Forward :meth:`~edgesync.providers.base.Provider.open_upload_session` (no faults)."""
        return self._forward("open_upload_session", path, lambda: self.inner.open_upload_session(
            path, info, if_match=if_match, create_only=create_only))
