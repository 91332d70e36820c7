"""The provider contract: what a cloud storage plugin implements.

A :class:`Provider` is one authenticated account on one cloud service, used by
one user's edge. It stores whole files at remote paths. The contract is tiered:

- **must** implement: :meth:`~Provider.stat`, :meth:`~Provider.get`,
  :meth:`~Provider.put`, :meth:`~Provider.delete`;
- **may** implement: :meth:`~Provider.open_upload_session` (resumable upload of
  large files); the default raises :class:`~edgesync.errors.UnsupportedError`;
- **should not** override: :attr:`~Provider.capabilities`, derived from which
  optional methods the class overrides, so that flags and code cannot drift.

Rules every method follows (the shipped suite
:class:`edgesync.testing.ProviderConformance` checks each):

- Paths arrive normalised by :func:`edgesync.paths.normalize_path`: relative,
  ``/``-separated, NFC. Folders are implicit: ``put`` creates them.
- Only exceptions from :mod:`edgesync.errors` leave a provider. Translate SDK and
  transport errors in one place (a ``translate_errors()`` context manager) into
  the most specific class, with ``raise ... from exc``. The edge decides
  whether to retry by reading ``retryable``, ``fatal`` and ``retry_after``.
- Conditional writes: ``if_match=rev`` succeeds only while the file's current
  revision is ``rev``; ``create_only=True`` only while no file exists.
  Otherwise :class:`~edgesync.errors.RevisionConflictError` is raised and the
  cloud is unchanged. This is how the edge avoids overwriting a change made from
  another device.

A worked example, a provider that keeps files in a dict. It passes the
conformance suite except for the two folder tests (a dict has no folders:
list them in ``known_failures``) and is not safe for concurrent use::

    class DictProvider(Provider):
        name = "dict"
        facts = ProviderFacts(hash_types={"sha256"})

        def __init__(self):
            self.files = {}   # path -> (revision, bytes)

        def stat(self, path):
            if path not in self.files:
                raise NotFoundError(f"{path} does not exist", path=path)
            rev, data = self.files[path]
            return RemoteEntry(path=path, size=len(data), revision=rev,
                               hashes={"sha256": hashlib.sha256(data).hexdigest()})

        def get(self, path, dest):
            entry = self.stat(path)
            dest.write(self.files[path][1])
            return entry

        def put(self, path, src, info, *, if_match=None, create_only=False):
            self.check_precondition(path, if_match, create_only)
            self.files[path] = (uuid.uuid4().hex, src.read())
            return self.stat(path)

        def delete(self, path, *, if_match=None):
            if self.check_precondition(path, if_match, False) is None:
                raise NotFoundError(f"{path} does not exist", path=path)
            del self.files[path]
"""

from __future__ import annotations

import abc
from typing import BinaryIO, ClassVar, final

from edgesync.errors import NotFoundError, RevisionConflictError, UnsupportedError
from edgesync.types import Capabilities, ProviderFacts, RemoteEntry, Revision, UploadInfo

__all__ = ["Provider", "UploadSession"]


class UploadSession(abc.ABC):
    """A resumable upload of one file, in order, in pieces.

    Returned by :meth:`Provider.open_upload_session`. The uploader appends the
    content in pieces; after a lost response it asks :meth:`resume` where the
    service stands and continues from there; :meth:`finish` commits the file
    with the preconditions given when the session was opened.
    """

    @property
    @abc.abstractmethod
    def offset(self) -> int:
        """Bytes the service has accepted so far, as last known locally."""

    @abc.abstractmethod
    def append(self, data: bytes) -> None:
        """Send the next piece, starting at :attr:`offset`.

        :param data: the bytes that follow what the service has.
        :raises TransientError: the piece may or may not have arrived; call
            :meth:`resume` and continue from the offset it returns.
        """

    @abc.abstractmethod
    def resume(self) -> int:
        """Ask the service how many bytes it has, after an interruption.

        :returns: the offset to continue from (also stored in :attr:`offset`).
        """

    @abc.abstractmethod
    def finish(self) -> RemoteEntry:
        """Commit the uploaded bytes as the file.

        :returns: the new entry, with every hash type of the provider's facts.
        :raises RevisionConflictError: the session's precondition failed; the
            cloud is unchanged.
        """

    @abc.abstractmethod
    def abort(self) -> None:
        """Give up and release what the service holds for the session. Never raises."""

    def send_all(self, src: BinaryIO, size: int, piece: int) -> RemoteEntry:
        """Upload ``size`` bytes of ``src`` in pieces of ``piece`` bytes and commit them.

        For a provider whose :meth:`Provider.put` takes large files through a
        session itself; each piece is read from :attr:`offset`, so a provider
        may accept less than it was given. On any failure the session is
        aborted and the error raised (no resuming here: the edge's uploader
        does that, with its retry policy).

        :param src: a seekable binary file object holding the content from 0.
        :raises ProviderError: as :meth:`append` and :meth:`finish`.
        """
        try:
            while self.offset < size:
                src.seek(self.offset)
                self.append(src.read(piece))
            return self.finish()
        except BaseException:
            self.abort()
            raise


class Provider(abc.ABC):
    """One account on one cloud service; subclass it to add a cloud.

    :cvar name: equals the :class:`~edgesync.types.ProviderSpec` name.
    :cvar facts: the declared :class:`~edgesync.types.ProviderFacts`.
    """

    name: ClassVar[str] = ""
    facts: ClassVar[ProviderFacts] = ProviderFacts()

    # ---- must implement ---------------------------------------------------

    @abc.abstractmethod
    def stat(self, path: str) -> RemoteEntry:
        """Metadata of the file at ``path``.

        :param path: a normalised remote path.
        :returns: the entry; ``hashes`` holds every type in ``facts.hash_types``.
        :raises NotFoundError: no file there.
        :raises NotAFileError: ``path`` is a folder.
        """

    @abc.abstractmethod
    def get(self, path: str, dest: BinaryIO) -> RemoteEntry:
        """Stream the file's content into ``dest``.

        :param path: a normalised remote path.
        :param dest: a writable binary file object.
        :returns: the entry describing exactly the bytes written.
        :raises NotFoundError: no file there (nothing was written).
        :raises NotAFileError: ``path`` is a folder.
        """

    @abc.abstractmethod
    def put(self, path: str, src: BinaryIO, info: UploadInfo, *,
            if_match: Revision | None = None, create_only: bool = False) -> RemoteEntry:
        """Create or replace the file at ``path`` with ``info.size`` bytes of ``src``.

        :param path: a normalised remote path; missing folders are created.
        :param src: a readable binary file object positioned at the content.
        :param info: size and locally computed hashes of the content. Zero-length
            content must work.
        :param if_match: replace only the file at this revision.
        :param create_only: write only if no file exists at ``path``.
        :returns: the new entry, whose ``hashes`` include every type in
            ``facts.hash_types``.
        :raises RevisionConflictError: a precondition failed (``.current`` is
            the revision found, or ``None`` when there is no file); nothing changed.
        :raises InvalidPathError: the service refuses the name.
        :raises QuotaExceededError: the account is full.
        """

    @abc.abstractmethod
    def delete(self, path: str, *, if_match: Revision | None = None) -> None:
        """Delete the file at ``path``.

        :param path: a normalised remote path.
        :param if_match: delete only the file at this revision.
        :raises NotFoundError: no file there.
        :raises RevisionConflictError: the file is at another revision; it was kept.
        """

    # ---- may implement ------------------------------------------------------

    def open_upload_session(self, path: str, info: UploadInfo, *,
                            if_match: Revision | None = None,
                            create_only: bool = False) -> UploadSession:
        """Start a resumable upload of ``info.size`` bytes to ``path``.

        The edge uses it for files larger than ``facts.max_single_put_size``.
        Preconditions are as for :meth:`put` and are checked at
        :meth:`UploadSession.finish`.

        :returns: an :class:`UploadSession`.
        :raises UnsupportedError: the default; the provider has no resumable upload.
        """
        raise UnsupportedError(f"the {self.name!r} provider has no resumable upload",
                               path=path)

    # ---- derived; do not override -------------------------------------------

    @final
    @property
    def capabilities(self) -> Capabilities:
        """The facts plus each optional operation this class overrides."""
        overrides = type(self).open_upload_session is not Provider.open_upload_session
        return Capabilities(facts=self.facts, supports_resumable_upload=overrides)

    # ---- helpers for implementers -------------------------------------------

    def check_precondition(self, path: str, if_match: Revision | None,
                           create_only: bool) -> RemoteEntry | None:
        """Compare the current state of ``path`` with a write's preconditions.

        A helper for providers whose service cannot check preconditions itself;
        call it under the same lock as the write.

        :returns: the current entry, or ``None`` when there is no file.
        :raises RevisionConflictError: ``create_only`` and a file exists, or
            ``if_match`` and the revision differs (or there is no file).
        """
        try:
            current = self.stat(path)
        except NotFoundError:
            if if_match is not None:
                raise RevisionConflictError(
                    f"{path} was to be replaced at revision {if_match}, but it no longer "
                    "exists", path=path, current=None) from None
            return None
        if create_only:
            raise RevisionConflictError(f"{path} already exists", path=path,
                                        current=current.revision)
        if if_match is not None and current.revision != if_match:
            raise RevisionConflictError(
                f"{path} is at revision {current.revision}, not {if_match}: it changed "
                "elsewhere", path=path, current=current.revision)
        return current
