"""What the plugin does about each failure of providers.md E.2, against the emulator.

Each test injects one failure into the real SDK's traffic and checks the
plugin's answer: the edgesync error it raises (which decides the edge's
retry), or that it recovers by itself. Where the edge's part matters (lost
responses, conflicts, bounded retries), the edge's own
:class:`~edgesync.edge.uploader.Uploader` drives the plugin.
"""

from __future__ import annotations

import io
import json

import pytest
from edgesync_dropbox import DropboxOptions, DropboxProvider
from edgesync_dropbox.testing import (
    charset_content_type,
    content_hash,
    corrupt,
    delay,
    expired_token,
    insufficient_space,
    process_then_reset,
    rate_limited,
    reset,
    respond,
    server_error,
    too_many_write_operations,
    truncate_body,
)

from edgesync import errors
from edgesync.edge.store import UploadState, VersionStore
from edgesync.edge.uploader import RetryPolicy, Uploader
from edgesync.plugins import PluginHost
from edgesync.types import UploadInfo

MiB = 1 << 20


@pytest.fixture
def make(emulator, tmp_path, sleeps):
    """Build a provider linked to the emulator (the SDK's retry sleeps are recorded)."""

    def make(**options) -> DropboxProvider:
        token_file = tmp_path / "dropbox.json"
        token_file.write_text(json.dumps({"app_key": emulator.app_key,
                                          "refresh_token": emulator.link_account()}))
        values = {"app_key": emulator.app_key, "token_file": str(token_file),
                  "upload_threshold": 4 * MiB, "chunk_size": 4 * MiB, **options}
        return DropboxProvider(DropboxOptions(**values), session=emulator.session())

    return make


@pytest.fixture
def provider(make) -> DropboxProvider:
    return make()


def put(provider, path: str, data: bytes, **kwargs):
    return provider.put(path, io.BytesIO(data), UploadInfo(size=len(data)), **kwargs)


@pytest.fixture
def uploader(provider, tmp_path):
    """The edge's uploader over the plugin, with instant (recorded) backoff."""
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


# --- 1-4: rate limits ------------------------------------------------------------------


def test_1_rate_limit_json_with_retry_after(emulator, provider):
    emulator.inject("files/upload", rate_limited(retry_after=3))
    with pytest.raises(errors.RateLimitedError) as caught:
        put(provider, "a.txt", b"x")
    assert caught.value.retry_after == 3.0 and caught.value.retryable
    assert emulator.file("/a.txt") is None


def test_2_rate_limit_json_without_retry_after_uses_the_sdks_default(emulator, provider):
    emulator.inject("files/upload", rate_limited(retry_after=None, header=15))
    with pytest.raises(errors.RateLimitedError) as caught:
        put(provider, "a.txt", b"x")
    # The SDK reads a JSON 429's body only, whose stone default is 1 s. The edge
    # waits what is reported; the header's 15 s is not seen by the plugin.
    assert caught.value.retry_after == 1.0


def test_3_rate_limit_in_plain_text_uses_the_header(emulator, provider):
    emulator.inject("files/upload", rate_limited(json=False, header=4))
    with pytest.raises(errors.RateLimitedError) as caught:
        put(provider, "a.txt", b"x")
    assert caught.value.retry_after == 4.0


def test_4_an_endless_rate_limit_ends_in_pending(emulator, uploader):
    emulator.inject("files/upload", rate_limited(retry_after=1), times=None)
    record = save(uploader, "a.txt", b"data")
    assert record.state == UploadState.PENDING and record.error["code"] == "rate_limited"
    assert uploader.slept == [1.0, 1.0]  # bounded: the policy's 3 attempts
    assert emulator.file("/a.txt") is None


def test_the_sdk_itself_does_not_retry_rate_limits(emulator, provider, sleeps):
    emulator.inject("files/upload", rate_limited(retry_after=2))
    with pytest.raises(errors.RateLimitedError):
        put(provider, "a.txt", b"x")
    assert sleeps == []


# --- 5: server errors ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("route", ["files/upload", "files/upload_session/append_v2",
                                   "files/upload_session/finish", "oauth2/token"])
def test_5_a_server_error_once_is_retried_by_the_sdk(emulator, make, sleeps, status, route):
    provider = make()
    data = bytes(range(256)) * (20 * 1024) if "session" in route else b"small"  # 5 MiB
    emulator.inject(route, server_error(status))
    entry = put(provider, "a.bin", data)
    assert emulator.file("/a.bin") == data and entry.hashes["dropbox"] == content_hash(data)
    assert len(sleeps) == 1


def test_5_a_server_error_that_lasts_is_service_unavailable(emulator, provider):
    emulator.inject("files/upload", server_error(503), times=None)
    with pytest.raises(errors.ServiceUnavailableError):
        put(provider, "a.txt", b"x")


# --- 6-7: tokens ------------------------------------------------------------------------------


def test_6_an_expired_token_is_refreshed_once(emulator, provider):
    put(provider, "a.txt", b"one")
    emulator.inject("files/get_metadata", expired_token())
    assert provider.stat("a.txt").size == 3
    routes = [record.route for record in emulator.journal]
    assert routes[-3:] == ["files/get_metadata", "oauth2/token", "files/get_metadata"]


def test_6_two_expired_tokens_in_a_row_are_token_expired(emulator, provider):
    put(provider, "a.txt", b"one")
    emulator.inject("files/get_metadata", expired_token(), times=2)
    with pytest.raises(errors.TokenExpiredError) as caught:
        provider.stat("a.txt")
    assert caught.value.retryable
    assert provider.stat("a.txt").size == 3  # the next call works again


def test_7_a_revoked_refresh_token_says_how_to_relink(emulator, make, tmp_path):
    provider = make()
    refresh = json.loads((tmp_path / "dropbox.json").read_text())["refresh_token"]
    emulator.revoke_refresh_token(refresh)
    with pytest.raises(errors.AuthError, match="edgesync auth dropbox") as caught:
        put(provider, "a.txt", b"x")
    assert caught.value.fatal and not caught.value.retryable


def test_7_an_unusable_token_file_is_a_config_error(emulator, tmp_path):
    options = DropboxOptions(app_key=emulator.app_key, token_file=str(tmp_path / "none.json"))
    with pytest.raises(errors.ConfigError, match="edgesync auth dropbox"):
        DropboxProvider(options, session=emulator.session())


# --- 8: lost responses ------------------------------------------------------------------------


def test_8_a_lost_append_response_continues_at_the_right_offset(emulator, provider):
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: start + 2 appends + finish
    emulator.inject("files/upload_session/append_v2", process_then_reset())
    session = provider.open_upload_session("big.bin", UploadInfo(size=len(data)))
    chunk = 4 * MiB
    session.append(data[:chunk])
    with pytest.raises(errors.ServiceUnavailableError):
        session.append(data[chunk:2 * chunk])  # it landed; the answer was lost
    assert session.resume() == 2 * chunk  # Dropbox's correct_offset, not 0
    session.append(data[2 * chunk:])
    assert session.finish().size == len(data)
    assert emulator.file("/big.bin") == data


def test_8_a_lost_upload_response_is_no_conflict_for_the_edge(emulator, uploader):
    emulator.inject("files/upload", process_then_reset())
    record = save(uploader, "a.txt", b"content")
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert emulator.files() == {"/a.txt": b"content"}


def test_8_a_lost_finish_response_is_no_conflict_for_the_edge(emulator, uploader):
    data = bytes(range(256)) * (20 * 1024)  # 5 MiB: a session
    emulator.inject("files/upload_session/finish", process_then_reset())
    record = save(uploader, "big.bin", data)
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert emulator.files() == {"/big.bin": data}


# --- 9: connections ---------------------------------------------------------------------------


def test_9_a_reset_connection_is_service_unavailable(emulator, provider):
    emulator.inject("files/upload", reset(), times=3)  # the SDK's own retries see it too
    with pytest.raises(errors.ServiceUnavailableError):
        put(provider, "a.txt", b"x")
    assert emulator.file("/a.txt") is None


def test_9_a_slow_answer_beyond_the_timeout(emulator, make):
    provider = make(timeout=0.3)
    emulator.inject("files/get_metadata", delay(1.5), times=3)
    with pytest.raises(errors.ServiceUnavailableError):
        provider.stat("a.txt")


def test_9_a_truncated_download_is_detected(emulator, provider):
    put(provider, "a.bin", bytes(range(256)) * 400)
    emulator.inject("files/download", truncate_body(1000))
    with pytest.raises(errors.ServiceUnavailableError):
        provider.get("a.bin", io.BytesIO())


def test_9_a_damaged_download_is_detected(emulator, provider):
    put(provider, "a.bin", bytes(range(256)) * 400)
    emulator.inject("files/download", corrupt())
    with pytest.raises(errors.ServiceUnavailableError, match="content hash"):
        provider.get("a.bin", io.BytesIO())


# --- 10-13: write failures -------------------------------------------------------------------


def test_10_a_content_hash_mismatch_is_retried_by_the_edge(emulator, uploader):
    emulator.inject("files/upload", corrupt())
    record = save(uploader, "a.txt", b"precious bytes")
    assert record.state == UploadState.UPLOADED
    assert emulator.file("/a.txt") == b"precious bytes"
    assert len(uploader.slept) == 1


def test_11_too_many_write_operations_is_a_rate_limit(emulator, provider):
    emulator.inject("files/upload", too_many_write_operations())
    with pytest.raises(errors.RateLimitedError):
        put(provider, "a.txt", b"x")


def test_11_too_many_write_operations_on_finish(emulator, provider):
    emulator.inject("files/upload_session/finish", too_many_write_operations())
    with pytest.raises(errors.RateLimitedError):
        put(provider, "big.bin", b"y" * (5 * MiB))


def test_12_insufficient_space_is_fatal(emulator, uploader):
    emulator.inject("files/upload", insufficient_space())
    record = save(uploader, "a.txt", b"x")
    assert record.state == UploadState.FAILED and record.error["code"] == "quota_exceeded"
    assert uploader.slept == []


def test_13_an_expired_session_starts_again(emulator, uploader):
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB
    emulator.inject("files/upload_session/append_v2",
                    respond(409, {"error_summary": "not_found/",
                                  "error": {".tag": "not_found"}}))
    record = save(uploader, "big.bin", data)
    assert record.state == UploadState.UPLOADED
    assert emulator.file("/big.bin") == data


# --- 14-15 ------------------------------------------------------------------------------------


def test_14_a_change_made_elsewhere_becomes_a_conflict_copy(emulator, uploader):
    assert save(uploader, "plan.txt", b"mine v1").state == UploadState.UPLOADED
    emulator.put_file("/plan.txt", b"another device's version")  # bumps the rev
    record = save(uploader, "plan.txt", b"mine v2")
    assert record.state == UploadState.CONFLICT
    assert emulator.file("/plan.txt") == b"another device's version"
    assert emulator.file("/" + record.conflict_path) == b"mine v2"


def test_14_a_stale_revision_is_refused_by_dropbox_itself(emulator, provider):
    first = put(provider, "a.txt", b"one")
    emulator.put_file("/a.txt", b"two")
    with pytest.raises(errors.RevisionConflictError):
        put(provider, "a.txt", b"three", if_match=first.revision)
    with pytest.raises(errors.RevisionConflictError):
        provider.delete("a.txt", if_match=first.revision)
    assert emulator.file("/a.txt") == b"two"
    updates = [r.arg for r in emulator.journal if r.route == "files/upload"]
    assert updates[-1]["mode"] == {".tag": "update", "update": first.revision}


def test_15_a_charset_on_a_json_answer_is_service_unavailable(emulator, provider):
    emulator.inject("files/get_metadata", charset_content_type(), times=3)
    put(provider, "a.txt", b"x")
    with pytest.raises(errors.ServiceUnavailableError, match="malformed"):
        provider.stat("a.txt")
