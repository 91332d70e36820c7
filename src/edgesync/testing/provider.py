"""The provider conformance suite: the contract of :mod:`edgesync.providers.base`, as tests.

Every provider, ``local`` included, passes the same suite. A plugin runs it by
subclassing :class:`ProviderConformance` in its own tests (the class name
does not start with ``Test``, so pytest collects only the subclasses) and
overriding the :meth:`~ProviderConformance.provider` fixture::

    # tests/test_conformance.py of the distribution "edgesync-example"
    from typing import ClassVar

    import pytest

    from edgesync.testing import ProviderConformance
    from edgesync_example.provider import ExampleOptions, ExampleProvider


    class TestExampleConformance(ProviderConformance):
        known_failures: ClassVar = {
            "test_stat_of_a_folder_raises_not_a_file":
                "Example Cloud has no folders; a folder path is simply absent",
        }

        @pytest.fixture
        def provider(self, example_server):       # the plugin's own HTTP fake
            return ExampleProvider(ExampleOptions(bucket="test",
                                                  endpoint=example_server.url))

The ``provider`` fixture must be defined in the subclass: a fixture of that
name in a ``conftest.py`` is shadowed by the suite's own, which fails with a
message saying so. Fixtures a subclass may override: :meth:`~ProviderConformance.scratch_root`,
:meth:`~ProviderConformance.large_size`, :meth:`~ProviderConformance.upload_piece_size`
and :meth:`~ProviderConformance.hashers`; opt-outs are listed, with a reason, in
:attr:`~ProviderConformance.known_failures`.

The tests are grouped by contract rule, and each docstring says the rule it
checks: round trips; ``NotFoundError`` and ``NotAFileError``; conditional
writes (skipped unless ``facts.supports_conditional_put``); hashes; difficult
names; resumable upload (skipped without it); capability honesty. Every call
goes through :class:`Remote`, which fails the test when a provider lets an
exception escape that is not an :class:`~edgesync.errors.EdgesyncError`.

Import the suite from :mod:`edgesync.testing`, which registers this module
for pytest's assertion rewriting, so failed comparisons show both values.
"""

from __future__ import annotations

import contextlib
import io
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

import pytest

from edgesync.errors import (
    EdgesyncError,
    NotAFileError,
    NotFoundError,
    RevisionConflictError,
    UnsupportedError,
)
from edgesync.hashing import hash_bytes
from edgesync.paths import normalize_path
from edgesync.plugins import PluginHost
from edgesync.providers.base import Provider, UploadSession
from edgesync.types import Hasher, RemoteEntry, Revision, UploadInfo

__all__ = ["ProviderConformance", "Remote"]

_T = TypeVar("_T")

#: Names that break naive providers: URL encoding, normalisation, lengths.
#: Each passes :func:`edgesync.paths.normalize_path` (the suite checks it).
_DIFFICULT_NAMES = [
    # rclone's fstests name, minus the trailing space normalize_path refuses
    pytest.param("hello? sausage/êé/Hello, 世界/ \" ' @ < > & ?/z.txt", id="rclone"),
    pytest.param("with spaces/a file name.txt", id="spaces"),
    pytest.param(" leading space.txt", id="leading-space"),
    pytest.param("runs  of   spaces.txt", id="runs-of-spaces"),
    pytest.param("!#$%&'()+,;=@[]^_`{}~.txt", id="punctuation"),
    pytest.param("%20%2F%3F%25.txt", id="percent-escapes"),  # must not be URL-decoded
    pytest.param("a+b=c&d?e#f.txt", id="url-syntax"),
    pytest.param(".hidden", id="leading-dot"),
    pytest.param("-leading-dash.txt", id="leading-dash"),
    pytest.param("many.dots.in.one.name.txt", id="dots"),
    pytest.param("emoji 😀/🎉 party 👩\u200d👩\u200d👧.txt", id="emoji"),
    pytest.param("中文/日本語のファイル/한국어.txt", id="cjk"),
    pytest.param("עברית/ملف عربي.txt", id="right-to-left"),
    pytest.param("Ünïcödé ñámé.txt", id="accents"),
    pytest.param("cafe\u0301/re\u0301sume\u0301.txt", id="nfd-input"),  # stored as NFC
    pytest.param("a" * 196 + ".txt", id="200-ascii-chars"),
]


def _checked(what: str, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call a provider method; fail the test if anything but an edgesync error escapes."""
    try:
        return call(*args, **kwargs)
    except EdgesyncError:
        raise
    except Exception as exc:
        pytest.fail(f"{what} raised {type(exc).__module__}.{type(exc).__qualname__}: {exc}. "
                    "Only edgesync.errors may leave a provider: translate SDK and transport "
                    "errors in one place, with 'raise ... from exc'.")


class _CheckedSession:
    """An upload session whose calls go through :func:`_checked`."""

    def __init__(self, session: UploadSession, path: str) -> None:
        self.inner = session
        self._path = path

    @property
    def offset(self) -> int:
        return _checked(f"UploadSession({self._path!r}).offset",
                        lambda: self.inner.offset)

    def append(self, data: bytes) -> None:
        _checked(f"UploadSession({self._path!r}).append", self.inner.append, data)

    def resume(self) -> int:
        return _checked(f"UploadSession({self._path!r}).resume", self.inner.resume)

    def finish(self) -> RemoteEntry:
        return _checked(f"UploadSession({self._path!r}).finish", self.inner.finish)

    def abort(self) -> None:
        _checked(f"UploadSession({self._path!r}).abort", self.inner.abort)


class Remote:
    """The provider under test, as the suite's tests use it (the ``remote`` fixture).

    Names are relative to the scratch root; every call fails the test if an
    exception other than an :class:`~edgesync.errors.EdgesyncError` escapes;
    every path written to is remembered and deleted after the test. Use it in
    a subclass's own tests too.

    :param provider: the provider under test.
    :param root: the scratch root (see :meth:`ProviderConformance.scratch_root`).
    :param hashers: hasher factories by hash type, for :class:`UploadInfo` hashes.
    :ivar written: the normalised paths written to so far.
    """

    def __init__(self, provider: Provider, root: str,
                 hashers: Mapping[str, Callable[[], Hasher]]) -> None:
        self.provider = provider
        self.root = root
        self.hashers = hashers
        self.written: set[str] = set()

    def path(self, name: str) -> str:
        """The remote path of ``name``: under the scratch root, normalised."""
        return normalize_path(f"{self.root}/{name}" if self.root else name)

    def info(self, data: bytes) -> UploadInfo:
        """The :class:`UploadInfo` the edge would send with ``data``."""
        return UploadInfo(size=len(data), hashes=hash_bytes(data, self.hashers))

    def put(self, name: str, data: bytes, *, if_match: Revision | None = None,
            create_only: bool = False) -> RemoteEntry:
        """Store ``data`` at ``name``; see :meth:`Provider.put`."""
        path = self.path(name)
        self.written.add(path)  # before the call: a failing put may still have written
        return _checked(f"put({path!r})", self.provider.put, path, io.BytesIO(data),
                        self.info(data), if_match=if_match, create_only=create_only)

    def stat(self, name: str) -> RemoteEntry:
        """See :meth:`Provider.stat`."""
        path = self.path(name)
        return _checked(f"stat({path!r})", self.provider.stat, path)

    def get(self, name: str, dest: io.BytesIO | None = None) -> tuple[bytes, RemoteEntry]:
        """The content at ``name`` and the entry ``get`` returned.

        :param dest: where to write (default: a new buffer).
        """
        path = self.path(name)
        dest = io.BytesIO() if dest is None else dest
        entry = _checked(f"get({path!r})", self.provider.get, path, dest)
        return dest.getvalue(), entry

    def content(self, name: str) -> bytes:
        """Only the content at ``name``."""
        return self.get(name)[0]

    def delete(self, name: str, *, if_match: Revision | None = None) -> None:
        """See :meth:`Provider.delete`."""
        path = self.path(name)
        _checked(f"delete({path!r})", self.provider.delete, path, if_match=if_match)

    def open_upload_session(self, name: str, size: int, *, if_match: Revision | None = None,
                            create_only: bool = False) -> _CheckedSession:
        """See :meth:`Provider.open_upload_session`; ``.inner`` is the provider's session."""
        path = self.path(name)
        self.written.add(path)
        session = _checked(f"open_upload_session({path!r})", self.provider.open_upload_session,
                           path, UploadInfo(size=size), if_match=if_match,
                           create_only=create_only)
        return _CheckedSession(session, path)

    def clean_up(self) -> None:
        """Delete every file written through this object; absent ones are fine."""
        for path in sorted(self.written, reverse=True):
            # Absent: deleted by the test, or the same file under another case.
            with contextlib.suppress(NotFoundError):
                _checked(f"delete({path!r})", self.provider.delete, path)


def _random_bytes(size: int) -> bytes:
    # Seeded: a failure reproduces with the same content.
    return random.Random(size).randbytes(size)


class ProviderConformance:
    """The shipped provider conformance suite; subclass it as ``TestXxxConformance``.

    Override the :meth:`provider` fixture (required), and optionally
    :meth:`scratch_root`, :meth:`large_size`, :meth:`upload_piece_size` and
    :meth:`hashers`. See :mod:`edgesync.testing.provider` for an example.

    :cvar known_failures: test-method name -> why this provider cannot pass
        it. Each listed test is marked ``xfail(strict=True)``: it must fail,
        and the run fails when it starts to pass, so the list stays true. A
        key may name one case of a parametrized test, as pytest shows it
        (``"test_difficult_name_round_trip[leading-space]"``). A name that is
        not a test of the class is refused when the subclass is defined.
    """

    known_failures: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tests = {name for name in dir(cls) if name.startswith("test_")}
        unknown = sorted(key for key in cls.known_failures if key.split("[")[0] not in tests)
        if unknown:
            raise TypeError(f"{cls.__name__}.known_failures names no test of the suite: "
                            f"{', '.join(unknown)}")

    # --- fixtures -------------------------------------------------------------------------

    @pytest.fixture
    def provider(self) -> Provider:
        """The provider under test, ready to use. **Override it** in the subclass.

        :returns: a :class:`~edgesync.providers.base.Provider` on a test account
            or a fake service. The suite writes only under :meth:`scratch_root`.
        """
        pytest.fail(f"{type(self).__name__} must override the 'provider' fixture: define "
                    "'@pytest.fixture def provider(self): return MyProvider(...)' in the "
                    "class (a conftest.py fixture of that name is shadowed by the suite's)",
                    pytrace=False)

    @pytest.fixture
    def scratch_root(self) -> str:
        """The folder each test writes under; unique per test by default.

        Default: ``edgesync-test-<hex>``, like rclone's random remote folder.
        Whatever it returns, every file a test writes under it is deleted
        through the provider afterwards (``NotFoundError`` ignored), so an
        override only chooses where. Return ``""`` to write at the top level.

        :returns: a path that passes :func:`~edgesync.paths.normalize_path`, or ``""``.
        """
        return f"edgesync-test-{uuid.uuid4().hex}"

    @pytest.fixture
    def large_size(self) -> int:
        """Bytes of the "large" content (default 3 MiB + 17).

        Large enough to cross the 1 MiB buffers and chunk boundaries providers
        commonly use, odd so that no boundary is met exactly. Lower it for a
        slow test account; raise it past ``facts.max_single_put_size`` only
        together with resumable upload.
        """
        return 3 * 2**20 + 17

    @pytest.fixture
    def upload_piece_size(self) -> int:
        """Bytes per :meth:`UploadSession.append` in the resumable upload tests.

        Default 1280 KiB: a multiple of both 320 KiB (OneDrive's fragment
        unit) and 256 KiB (Google Drive's), so services that constrain pieces
        accept it. Every piece but the last has this size.
        """
        return 1280 * 2**10

    @pytest.fixture
    def hashers(self, provider: Provider) -> Mapping[str, Callable[[], Hasher]]:
        """Hasher factories by hash type, for every type the provider declares.

        Default: what the installed plugins register, through a fresh
        :class:`~edgesync.plugins.PluginHost` (so the plugin under test must be
        installed, as it is when its tests run).

        :returns: a mapping of hash type to a factory of empty hashers, with
            ``sha256`` and every type in ``provider.facts.hash_types``.
        """
        return PluginHost().load().hashers(provider.facts.hash_types)

    @pytest.fixture
    def remote(self, provider: Provider, scratch_root: str,
               hashers: Mapping[str, Callable[[], Hasher]]) -> Iterator[Remote]:
        """The provider under test wrapped in a :class:`Remote`; cleans up afterwards.

        Provided by the suite; do not override.
        """
        remote = Remote(provider, scratch_root, hashers)
        yield remote
        remote.clean_up()

    @pytest.fixture(autouse=True)
    def _known_failure(self, request: pytest.FixtureRequest) -> None:
        reason = (self.known_failures.get(request.node.name)
                  or self.known_failures.get(request.node.originalname))
        if reason is not None:
            request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _declared_hashes(provider: Provider, entry: RemoteEntry) -> dict[str, str]:
        missing = sorted(provider.facts.hash_types - set(entry.hashes))
        assert not missing, f"{entry.path}: hashes lack declared type(s) {missing}"
        return {kind: entry.hashes[kind] for kind in provider.facts.hash_types}

    @staticmethod
    def _skip_unless_conditional(provider: Provider) -> None:
        if not provider.facts.supports_conditional_put:
            pytest.skip(f"{provider.name}: no conditional put")

    @staticmethod
    def _skip_unless_resumable(provider: Provider) -> None:
        if not provider.capabilities.supports_resumable_upload:
            pytest.skip(f"{provider.name}: no resumable upload")

    # --- round trip -----------------------------------------------------------------------

    def test_put_stat_get_round_trip(self, provider: Provider, remote: Remote) -> None:
        """``put`` stores the bytes; ``stat`` and ``get`` describe exactly them.

        The entry of ``put`` has the path, size, a non-empty revision and
        every declared hash type, and equals what a following ``stat`` and
        ``get`` report.
        """
        data = b"The quick brown fox jumps over the lazy dog.\n" * 3
        put = remote.put("round-trip.txt", data)
        stat = remote.stat("round-trip.txt")
        got, get = remote.get("round-trip.txt")

        assert got == data
        path = remote.path("round-trip.txt")
        for entry in (put, stat, get):
            assert entry.path == path
            assert entry.size == len(data)
            assert entry.revision, "the revision must not be empty"
            assert entry.revision == put.revision
            assert self._declared_hashes(provider, entry) == \
                self._declared_hashes(provider, put)

    def test_put_zero_length(self, provider: Provider, remote: Remote) -> None:
        """Zero-length content is stored, described and read back like any other."""
        put = remote.put("empty.txt", b"")
        stat = remote.stat("empty.txt")
        got, get = remote.get("empty.txt")

        assert got == b""
        assert put.size == stat.size == get.size == 0
        assert put.revision and stat.revision == put.revision
        assert self._declared_hashes(provider, stat) == self._declared_hashes(provider, put)

    def test_put_overwrites_without_precondition(self, remote: Remote) -> None:
        """A ``put`` without preconditions replaces the file; the revision changes."""
        first = remote.put("overwrite.txt", b"first version")
        second = remote.put("overwrite.txt", b"second, longer version")

        assert remote.content("overwrite.txt") == b"second, longer version"
        assert remote.stat("overwrite.txt").size == len(b"second, longer version")
        assert second.revision != first.revision

    def test_put_creates_folders(self, remote: Remote) -> None:
        """``put`` creates every missing folder of the path."""
        remote.put("one/two/three/four.txt", b"deep")

        assert remote.content("one/two/three/four.txt") == b"deep"

    def test_put_large_content(self, provider: Provider, remote: Remote,
                               large_size: int) -> None:
        """Large content (``large_size`` random bytes) survives the round trip intact."""
        limit = provider.facts.max_single_put_size
        if limit is not None and large_size > limit:
            pytest.skip(f"{provider.name}: large_size {large_size} exceeds "
                        f"max_single_put_size {limit}")
        data = _random_bytes(large_size)
        put = remote.put("large.bin", data)
        got, get = remote.get("large.bin")

        assert put.size == get.size == large_size
        assert got == data, "the content read back differs from the content stored"

    def test_delete_removes_the_file(self, remote: Remote) -> None:
        """After ``delete`` the path is absent."""
        remote.put("doomed.txt", b"x")
        remote.delete("doomed.txt")

        with pytest.raises(NotFoundError):
            remote.stat("doomed.txt")

    # --- absent paths and folders ---------------------------------------------------------

    def test_stat_of_an_absent_path_raises_not_found(self, remote: Remote) -> None:
        """``stat`` of a path with no file raises ``NotFoundError`` carrying the path."""
        with pytest.raises(NotFoundError) as raised:
            remote.stat("absent.txt")
        assert raised.value.path == remote.path("absent.txt")

    def test_get_of_an_absent_path_raises_not_found(self, remote: Remote) -> None:
        """``get`` of a path with no file raises ``NotFoundError`` and writes nothing."""
        dest = io.BytesIO()
        with pytest.raises(NotFoundError) as raised:
            remote.get("absent.txt", dest)
        assert raised.value.path == remote.path("absent.txt")
        assert dest.getvalue() == b""

    def test_delete_of_an_absent_path_raises_not_found(self, remote: Remote) -> None:
        """``delete`` of a path with no file raises ``NotFoundError``."""
        with pytest.raises(NotFoundError) as raised:
            remote.delete("absent.txt")
        assert raised.value.path == remote.path("absent.txt")

    def test_stat_of_a_folder_raises_not_a_file(self, remote: Remote) -> None:
        """``stat`` of a folder raises ``NotAFileError``, not ``NotFoundError``.

        The edge must tell "nothing there" (safe to create) from "a folder is
        in the way".
        """
        remote.put("folder/inside.txt", b"x")

        with pytest.raises(NotAFileError):
            remote.stat("folder")

    def test_get_of_a_folder_raises_not_a_file(self, remote: Remote) -> None:
        """``get`` of a folder raises ``NotAFileError`` and writes nothing."""
        remote.put("folder/inside.txt", b"x")
        dest = io.BytesIO()

        with pytest.raises(NotAFileError):
            remote.get("folder", dest)
        assert dest.getvalue() == b""

    # --- conditional writes ---------------------------------------------------------------

    def test_put_with_a_stale_if_match_conflicts(self, provider: Provider,
                                                 remote: Remote) -> None:
        """``put(if_match=old)`` after another change raises ``RevisionConflictError``.

        Nothing changes, and ``.current`` is ``None`` or the revision found.
        """
        self._skip_unless_conditional(provider)
        first = remote.put("conditional.txt", b"first")
        second = remote.put("conditional.txt", b"changed on another device")

        with pytest.raises(RevisionConflictError) as raised:
            remote.put("conditional.txt", b"would overwrite", if_match=first.revision)
        assert raised.value.current in (None, second.revision)
        assert remote.content("conditional.txt") == b"changed on another device"
        assert remote.stat("conditional.txt").revision == second.revision

    def test_put_with_the_current_if_match_replaces(self, provider: Provider,
                                                    remote: Remote) -> None:
        """``put(if_match=current)`` replaces the file and gives it a new revision."""
        self._skip_unless_conditional(provider)
        first = remote.put("conditional.txt", b"first")
        second = remote.put("conditional.txt", b"second", if_match=first.revision)

        assert second.revision != first.revision
        assert remote.content("conditional.txt") == b"second"
        assert remote.stat("conditional.txt").revision == second.revision

    def test_put_with_if_match_on_an_absent_path_conflicts(self, provider: Provider,
                                                          remote: Remote) -> None:
        """``put(if_match=rev)`` where the file was deleted conflicts and creates nothing."""
        self._skip_unless_conditional(provider)
        gone = remote.put("deleted.txt", b"soon gone")
        remote.delete("deleted.txt")

        with pytest.raises(RevisionConflictError) as raised:
            remote.put("deleted.txt", b"resurrected", if_match=gone.revision)
        assert raised.value.current is None
        with pytest.raises(NotFoundError):
            remote.stat("deleted.txt")

    def test_create_only_on_an_existing_file_conflicts(self, provider: Provider,
                                                      remote: Remote) -> None:
        """``put(create_only=True)`` where a file exists conflicts and keeps the file."""
        self._skip_unless_conditional(provider)
        existing = remote.put("exists.txt", b"already here")

        with pytest.raises(RevisionConflictError) as raised:
            remote.put("exists.txt", b"newcomer", create_only=True)
        assert raised.value.current in (None, existing.revision)
        assert remote.content("exists.txt") == b"already here"

    def test_create_only_on_an_absent_path_creates(self, provider: Provider,
                                                   remote: Remote) -> None:
        """``put(create_only=True)`` where no file exists creates it."""
        self._skip_unless_conditional(provider)
        put = remote.put("new.txt", b"brand new", create_only=True)

        assert remote.content("new.txt") == b"brand new"
        assert remote.stat("new.txt").revision == put.revision

    def test_delete_with_a_stale_if_match_conflicts(self, provider: Provider,
                                                    remote: Remote) -> None:
        """``delete(if_match=old)`` after another change conflicts and keeps the file."""
        self._skip_unless_conditional(provider)
        first = remote.put("keep.txt", b"first")
        second = remote.put("keep.txt", b"changed on another device")

        with pytest.raises(RevisionConflictError):
            remote.delete("keep.txt", if_match=first.revision)
        assert remote.stat("keep.txt").revision == second.revision
        assert remote.content("keep.txt") == b"changed on another device"

    def test_delete_with_the_current_if_match_deletes(self, provider: Provider,
                                                      remote: Remote) -> None:
        """``delete(if_match=current)`` deletes the file."""
        self._skip_unless_conditional(provider)
        entry = remote.put("delete-me.txt", b"x")
        remote.delete("delete-me.txt", if_match=entry.revision)

        with pytest.raises(NotFoundError):
            remote.stat("delete-me.txt")

    # --- hashes ---------------------------------------------------------------------------

    @pytest.mark.parametrize("content", ["empty", "small", "large"])
    def test_hashes_equal_the_registered_hashers(self, provider: Provider, remote: Remote,
                                                 hashers: Mapping[str, Callable[[], Hasher]],
                                                 large_size: int, content: str) -> None:
        """Every declared hash equals the registered hasher's digest of the content.

        The edge verifies uploads by computing these locally; checked for the
        entries of ``put``, ``stat`` and ``get``.
        """
        if not provider.facts.hash_types:
            pytest.skip(f"{provider.name}: declares no hash types")
        limit = provider.facts.max_single_put_size
        data = {"empty": b"", "small": b"hash me\n" * 100,
                "large": _random_bytes(large_size)}[content]
        if limit is not None and len(data) > limit:
            pytest.skip(f"{provider.name}: {len(data)} bytes exceed max_single_put_size")
        expected = hash_bytes(data, {kind: hashers[kind] for kind in provider.facts.hash_types})

        put = remote.put("hashed.bin", data)
        stat = remote.stat("hashed.bin")
        _, get = remote.get("hashed.bin")

        for name, entry in (("put", put), ("stat", stat), ("get", get)):
            assert self._declared_hashes(provider, entry) == expected, name

    # --- difficult names ------------------------------------------------------------------

    @pytest.mark.parametrize("name", _DIFFICULT_NAMES)
    def test_difficult_name_round_trip(self, provider: Provider, remote: Remote,
                                       name: str) -> None:
        """A file with an unusual but valid name is stored and found under exactly that name.

        Catches double URL-encoding, lost normalisation and truncation. Names
        with a character in ``facts.invalid_path_chars``, or longer than
        ``facts.max_path_length``, are skipped.
        """
        normal = normalize_path(name)  # the list holds only valid names
        refused = set(normal) & set(provider.facts.invalid_path_chars)
        if refused:
            pytest.skip(f"{provider.name}: refuses {''.join(sorted(refused))!r} in names")
        path = remote.path(name)
        limit = provider.facts.max_path_length
        if limit is not None and len(path) > limit:
            pytest.skip(f"{provider.name}: paths are at most {limit} characters")
        data = f"content of {normal}".encode()

        put = remote.put(name, data)
        got, get = remote.get(normal)

        assert got == data
        assert put.path == remote.stat(normal).path == get.path == path

    def test_case_only_different_names(self, provider: Provider, remote: Remote) -> None:
        """``Case.txt`` and ``case.txt``: one file if ``facts.case_insensitive``, else two."""
        remote.put("Case.txt", b"upper")
        remote.put("case.txt", b"lower")

        if provider.facts.case_insensitive:
            assert remote.content("Case.txt") == remote.content("case.txt") == b"lower"
        else:
            assert remote.content("Case.txt") == b"upper"
            assert remote.content("case.txt") == b"lower"

    # --- optional: resumable upload -------------------------------------------------------

    def test_upload_session_round_trip_in_pieces(self, provider: Provider, remote: Remote,
                                                 upload_piece_size: int) -> None:
        """An upload session appends pieces in order; ``finish`` stores them as one file.

        ``offset`` follows the appended bytes, and the entry of ``finish``
        describes the content as ``stat`` does.
        """
        self._skip_unless_resumable(provider)
        data = _random_bytes(2 * upload_piece_size + 17)
        session = remote.open_upload_session("resumable.bin", len(data))
        assert session.offset == 0
        for start in range(0, len(data), upload_piece_size):
            session.append(data[start:start + upload_piece_size])
            assert session.offset == min(start + upload_piece_size, len(data))
        entry = session.finish()

        assert remote.content("resumable.bin") == data
        stat = remote.stat("resumable.bin")
        assert entry.size == stat.size == len(data)
        assert entry.revision == stat.revision
        assert self._declared_hashes(provider, entry) == self._declared_hashes(provider, stat)

    def test_upload_session_resume_returns_the_accepted_offset(
            self, provider: Provider, remote: Remote, upload_piece_size: int) -> None:
        """After appends, ``resume`` returns how many bytes the service holds.

        The uploader continues from there after a lost response.
        """
        self._skip_unless_resumable(provider)
        data = _random_bytes(2 * upload_piece_size + 17)
        session = remote.open_upload_session("resumed.bin", len(data))
        session.append(data[:upload_piece_size])
        session.append(data[upload_piece_size:2 * upload_piece_size])

        assert session.resume() == 2 * upload_piece_size
        assert session.offset == 2 * upload_piece_size
        session.append(data[session.offset:])
        session.finish()
        assert remote.content("resumed.bin") == data

    def test_upload_session_finish_with_a_stale_if_match_conflicts(
            self, provider: Provider, remote: Remote) -> None:
        """``finish`` checks the session's ``if_match``: stale -> ``RevisionConflictError``.

        The file keeps the content of the other change.
        """
        self._skip_unless_resumable(provider)
        first = remote.put("session-conflict.txt", b"first")
        remote.put("session-conflict.txt", b"changed on another device")
        data = b"would overwrite"
        session = remote.open_upload_session("session-conflict.txt", len(data),
                                             if_match=first.revision)
        session.append(data)

        try:
            with pytest.raises(RevisionConflictError):
                session.finish()
        finally:
            session.abort()
        assert remote.content("session-conflict.txt") == b"changed on another device"

    def test_upload_session_abort_leaves_no_file(self, provider: Provider,
                                                 remote: Remote) -> None:
        """``abort`` discards the session: no file appears. A second ``abort`` is harmless."""
        self._skip_unless_resumable(provider)
        session = remote.open_upload_session("aborted.bin", 10, create_only=True)
        session.append(b"01234")
        session.abort()
        session.abort()

        with pytest.raises(NotFoundError):
            remote.stat("aborted.bin")

    # --- capability honesty ---------------------------------------------------------------

    def test_resumable_upload_capability_is_honest(self, provider: Provider,
                                                   remote: Remote) -> None:
        """``supports_resumable_upload`` is True exactly when ``open_upload_session`` works.

        False: the call raises ``UnsupportedError``. True: it returns an
        :class:`~edgesync.providers.base.UploadSession`.
        """
        if provider.capabilities.supports_resumable_upload:
            session = remote.open_upload_session("capability.bin", 1)
            try:
                assert isinstance(session.inner, UploadSession)
            finally:
                session.abort()
        else:
            with pytest.raises(UnsupportedError):
                remote.open_upload_session("capability.bin", 1)
