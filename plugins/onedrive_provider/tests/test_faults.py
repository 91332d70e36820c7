"""What the plugin does about each failure of providers.md E.4, against the emulator.

Each test injects one failure into the real traffic (MSAL's and Graph's) and
checks the plugin's answer: the edgesync error it raises, which decides the
edge's retry, or that it recovers by itself. Where the edge's part matters
(resuming sessions, conflicts, bounded retries) the edge's own
:class:`~edgesync.edge.uploader.Uploader` drives the plugin.
"""

from __future__ import annotations

import io

import pytest
from edgesync_onedrive import OneDriveOptions, OneDriveProvider
from edgesync_onedrive.auth import sign_in
from edgesync_onedrive.testing import (
    delay,
    device_expired,
    etag_changed,
    expired_token,
    invalid_grant,
    partial_accept,
    process_then_reset,
    quota_full,
    reset,
    rps_error,
    server_error,
    session_gone,
    slow_down,
    throttled,
    truncate_body,
)

from edgesync import errors
from edgesync.edge import uploader as uploader_module
from edgesync.edge.store import UploadState, VersionStore
from edgesync.edge.uploader import RetryPolicy, Uploader
from edgesync.plugins import PluginHost
from edgesync.types import UploadInfo

KiB, MiB = 1 << 10, 1 << 20
BIG = bytes(range(256)) * (12 * 1024)  # 3 MiB: above the threshold below, so a session


@pytest.fixture
def cache(emulator, tmp_path):
    path = tmp_path / "onedrive.json"
    sign_in(emulator.client_id, path, session=emulator.session(), say=lambda text: None)
    return path


@pytest.fixture
def make(emulator, cache):
    def make(**options) -> OneDriveProvider:
        values = {"client_id": emulator.client_id, "token_cache": str(cache),
                  "upload_threshold": 2 * MiB, "fragment_size": 1280 * KiB, **options}
        return OneDriveProvider(OneDriveOptions(**values), session=emulator.session())

    return make


@pytest.fixture
def provider(make) -> OneDriveProvider:
    return make()


def put(provider, path: str, data: bytes, **kwargs):
    return provider.put(path, io.BytesIO(data), UploadInfo(size=len(data)), **kwargs)


@pytest.fixture
def uploader(provider, tmp_path, monkeypatch):
    """The edge's uploader over the plugin: instant (recorded) backoff, 1 MiB session pieces."""
    monkeypatch.setattr(uploader_module, "SESSION_PIECE", 1 << 20)
    slept: list[float] = []
    store = VersionStore(tmp_path / "store", fsync=False)
    hashers = PluginHost().load().hashers(provider.facts.hash_types)
    up = Uploader(provider, store, hashers, sleep=slept.append,
                  policy=RetryPolicy(attempts=3, base_delay=0.01, max_wait=30))
    up.slept = slept
    return up


def save(uploader, path: str, data: bytes):
    store = uploader.store
    store.commit(path, store.put_bytes(data), len(data))
    return uploader.upload(path)


# --- 1-2: throttling, server errors, quota ---------------------------------------------------


@pytest.mark.parametrize("code", ["activityLimitReached", "TooManyRequests"])
def test_1_a_429_with_retry_after(emulator, provider, code):
    emulator.inject("content", throttled(retry_after=7, code=code))
    with pytest.raises(errors.RateLimitedError) as caught:
        put(provider, "a.txt", b"x")
    assert caught.value.retry_after == 7.0 and emulator.file("a.txt") is None


def test_1_a_429_without_retry_after(emulator, provider):
    emulator.inject("content", throttled(retry_after=None))
    with pytest.raises(errors.RateLimitedError) as caught:
        put(provider, "a.txt", b"x")
    assert caught.value.retry_after is None  # the edge backs off exponentially


@pytest.mark.parametrize("retry_after, expected", [(3, errors.RateLimitedError),
                                                   (None, errors.ServiceUnavailableError)])
def test_1_a_503_with_and_without_retry_after(emulator, provider, retry_after, expected):
    emulator.inject("content", server_error(503, retry_after=retry_after))
    with pytest.raises(expected):
        put(provider, "a.txt", b"x")


@pytest.mark.parametrize("status", [500, 502, 504, 509])
def test_1_server_errors_are_retried_by_the_edge(emulator, uploader, status):
    emulator.inject("content", server_error(status))
    record = save(uploader, "a.txt", b"data")
    assert record.state == UploadState.UPLOADED and emulator.file("a.txt") == b"data"
    assert len(uploader.slept) == 1


def test_2_a_full_drive_is_fatal_and_not_retried(emulator, uploader):
    emulator.inject("content", quota_full())
    record = save(uploader, "a.txt", b"data")
    assert record.state == UploadState.FAILED and record.error["code"] == "quota_exceeded"
    assert uploader.slept == []


# --- 3-4: tokens mid-sync ----------------------------------------------------------------------


def test_3_an_expired_token_is_refreshed_once(emulator, provider):
    put(provider, "a.txt", b"one")
    emulator.inject("item", expired_token())
    assert provider.stat("a.txt").size == 3
    assert [r.route for r in emulator.journal][-3:] == ["item", "token", "item"]


def test_3_a_second_401_in_a_row_is_raised(emulator, provider):
    put(provider, "a.txt", b"one")
    emulator.inject("item", expired_token(), times=2)
    with pytest.raises(errors.TokenExpiredError):
        provider.stat("a.txt")


def test_4_unable_to_initialize_rps_is_retried(emulator, provider):
    put(provider, "a.txt", b"one")
    emulator.inject("item", rps_error())
    assert provider.stat("a.txt").size == 3


def test_the_refreshed_sign_in_is_written_back(emulator, provider, cache):
    before = cache.read_text()
    emulator.expire_access_tokens()
    put(provider, "a.txt", b"one")  # refreshes: the refresh token rotates
    assert cache.read_text() != before
    assert oct(cache.stat().st_mode & 0o777) == "0o600"


# --- 5-8: upload sessions ------------------------------------------------------------------------


def test_5_a_lost_fragment_response_resumes_where_onedrive_is(emulator, uploader):
    emulator.inject("fragment", process_then_reset())
    record = save(uploader, "big.bin", BIG)
    assert record.state == UploadState.UPLOADED
    assert emulator.file("big.bin") == BIG
    assert any(r.route == "uploadStatus" for r in emulator.journal)  # asked, not restarted


def test_6_a_partly_accepted_fragment(emulator, uploader):
    emulator.inject("fragment", partial_accept(100_000))  # not 320 KiB aligned
    record = save(uploader, "big.bin", BIG)
    assert record.state == UploadState.UPLOADED and emulator.file("big.bin") == BIG


def test_7_a_session_gone_starts_over(emulator, uploader):
    emulator.inject("fragment", session_gone(), nth=2)
    record = save(uploader, "big.bin", BIG)
    assert record.state == UploadState.UPLOADED and emulator.file("big.bin") == BIG
    assert sum(r.route == "createUploadSession" for r in emulator.journal) == 2


def test_8_a_name_taken_before_the_last_fragment_is_a_conflict(emulator, provider):
    session = provider.open_upload_session("new.bin", UploadInfo(size=len(BIG)),
                                           create_only=True)
    session.append(BIG[:1280 * KiB])
    emulator.put_file("new.bin", b"another device was faster")
    with pytest.raises(errors.RevisionConflictError):
        session.append(BIG[1280 * KiB:])
        session.finish()
    assert emulator.file("new.bin") == b"another device was faster"


def test_no_authorization_is_sent_to_upload_or_download_urls(emulator, provider):
    put(provider, "big.bin", BIG)
    provider.get("big.bin", io.BytesIO())
    for record in emulator.journal:
        if record.host in ("upload.onedrive.test", "dl.onedrive.test"):
            assert "authorization" not in record.headers, record


def test_fragments_are_multiples_of_320_kib(emulator, provider):
    put(provider, "big.bin", BIG)
    fragments = [r for r in emulator.journal if r.route == "fragment"]
    assert len(fragments) >= 2
    assert all(r.body_len % (320 * KiB) == 0 for r in fragments[:-1])


def test_a_change_during_an_upload_is_not_overwritten(emulator, provider):
    first = put(provider, "doc.bin", b"v1")
    session = provider.open_upload_session("doc.bin", UploadInfo(size=len(BIG)),
                                           if_match=first.revision)
    session.append(BIG[:1280 * KiB])
    emulator.put_file("doc.bin", b"another device's save")
    with pytest.raises(errors.RevisionConflictError):
        session.append(BIG[1280 * KiB:])
        session.finish()
    assert emulator.file("doc.bin") == b"another device's save"


# --- 9: eTag --------------------------------------------------------------------------------------


def test_9_a_stale_etag_is_a_conflict(emulator, provider):
    first = put(provider, "a.txt", b"one")
    emulator.put_file("a.txt", b"two")
    with pytest.raises(errors.RevisionConflictError):
        put(provider, "a.txt", b"three", if_match=first.revision)
    assert emulator.file("a.txt") == b"two"
    emulator.inject("content", etag_changed())
    second = provider.stat("a.txt")
    with pytest.raises(errors.RevisionConflictError):
        put(provider, "a.txt", b"four", if_match=second.revision)


def test_9_a_change_elsewhere_becomes_a_conflict_copy(emulator, uploader):
    assert save(uploader, "plan.txt", b"mine v1").state == UploadState.UPLOADED
    emulator.put_file("plan.txt", b"another device's version")
    record = save(uploader, "plan.txt", b"mine v2")
    assert record.state == UploadState.CONFLICT
    assert emulator.file("plan.txt") == b"another device's version"
    assert emulator.file(record.conflict_path) == b"mine v2"


# --- 10: the token endpoint ------------------------------------------------------------------------


def test_10_a_token_endpoint_5xx_is_service_unavailable(emulator, make):
    provider = make()
    emulator.expire_access_tokens()
    emulator.inject("token", server_error(503, retry_after=1))
    with pytest.raises(errors.ServiceUnavailableError):
        provider.stat("anything.txt")


def test_10_invalid_grant_says_how_to_sign_in_again(emulator, make):
    provider = make()
    emulator.revoke_refresh_tokens()
    emulator.expire_access_tokens()
    with pytest.raises(errors.AuthError, match="edgesync auth onedrive") as caught:
        put(provider, "a.txt", b"x")
    assert caught.value.fatal


def test_10_invalid_grant_injected(emulator, make):
    provider = make()
    emulator.expire_access_tokens()
    emulator.inject("token", invalid_grant())
    with pytest.raises(errors.AuthError):
        provider.stat("a.txt")


def test_10_device_flow_slow_down_then_expired(emulator, tmp_path):
    emulator.auto_approve = False
    emulator.inject("token", slow_down())
    emulator.inject("token", device_expired(), nth=2)
    with pytest.raises(errors.AuthError):
        sign_in(emulator.client_id, tmp_path / "c.json", session=emulator.session(),
                say=lambda text: None)
    assert not (tmp_path / "c.json").exists()


# --- 11-12: slow, reset, truncated -------------------------------------------------------------------


def test_11_a_slow_fragment_beyond_the_timeout(emulator, make):
    provider = make(timeout=0.3)
    emulator.inject("fragment", delay(1.0))
    with pytest.raises(errors.ServiceUnavailableError):
        put(provider, "big.bin", BIG)


def test_11_a_reset_mid_fragment_is_resumed_by_the_edge(emulator, uploader):
    emulator.inject("fragment", reset(), nth=2)
    record = save(uploader, "big.bin", BIG)
    assert record.state == UploadState.UPLOADED and emulator.file("big.bin") == BIG


def test_12_a_truncated_download_is_detected(emulator, provider):
    put(provider, "a.bin", bytes(range(256)) * 400)
    emulator.inject("download", truncate_body(1000))
    with pytest.raises(errors.ServiceUnavailableError):
        provider.get("a.bin", io.BytesIO())
