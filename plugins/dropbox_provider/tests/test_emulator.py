"""The Dropbox emulator, driven by the real ``dropbox`` SDK through its loopback session.

Each test states one behaviour of Dropbox API v2 the emulator reproduces (or a
fault it injects) and checks it the way a client meets it: through the SDK's
result objects and exceptions, plus the emulator's journal and store.
"""

from __future__ import annotations

import doctest
import json
import signal
import subprocess
import sys
from types import SimpleNamespace
from urllib.parse import parse_qs, quote, urlsplit

import dropbox
import dropbox.content_hash
import dropbox.exceptions as dbx_errors
import dropbox.file_transfer
import dropbox.files as f
import dropbox.oauth
import pytest
import requests
from edgesync_dropbox import testing
from edgesync_dropbox.testing import (
    DropboxEmulator,
    LoopbackAdapter,
    charset_content_type,
    content_hash,
    corrupt,
    delay,
    expired_token,
    insufficient_space,
    loopback_session,
    process_then,
    process_then_reset,
    rate_limited,
    reset,
    respond,
    server_error,
    too_many_write_operations,
    truncate_body,
)

# The SDK calls datetime.utcnow(), deprecated from Python 3.12 on; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:datetime.datetime.utcnow:DeprecationWarning:dropbox")

MiB = 1024 * 1024
EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def routes(emulator: DropboxEmulator) -> list[tuple[str, int | None]]:
    return [(record.route, record.status) for record in emulator.journal]


def client(emulator: DropboxEmulator, **kwargs) -> dropbox.Dropbox:
    options = {"max_retries_on_error": 0, "max_retries_on_rate_limit": 1, **kwargs}
    return dropbox.Dropbox(oauth2_refresh_token=emulator.link_account(), app_key=emulator.app_key,
                           session=emulator.session(), **options)


def raw(emulator: DropboxEmulator, route: str, *, arg=None, body: bytes | None = None,
        host: str = "api", content_type: str | None = "application/json",
        token: str | None = "", extra: dict | None = None) -> requests.Response:
    """A hand-made request, for what the SDK would never send."""
    headers = dict(extra or {})
    if token == "":
        token = emulator.issue_access_token()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if content_type is not None:
        headers["Content-Type"] = content_type
    if host == "content":
        headers["Dropbox-API-Arg"] = arg if isinstance(arg, str) else json.dumps(arg)
    elif body is None:
        body = json.dumps(arg).encode()
    with emulator.session() as session:
        return session.post(f"https://{host}.dropboxapi.com/2/{route}", headers=headers,
                            data=body)


# --- wire basics ------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 3])
def test_content_hash_is_the_sdks(size: int) -> None:
    data = bytes(range(251)) * (size // 251) + bytes(size % 251)
    hasher = dropbox.content_hash.DropboxContentHasher()
    for start in range(0, size, 1_000_003):  # chunks that straddle the 4 MiB blocks
        hasher.update(data[start:start + 1_000_003])
    assert content_hash(data) == dropbox.content_hash.content_hash(data) == hasher.hexdigest()


def test_content_hash_of_nothing_is_sha256_of_nothing() -> None:
    assert content_hash(b"") == EMPTY_HASH


def test_the_module_example_runs() -> None:
    result = doctest.testmod(testing, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_round_trip_with_a_non_ascii_path(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    path, data = "/Dökümanlar/Ünïcode € \x7f.txt", "Grüße 👋".encode()

    uploaded = dbx.files_upload(data, path)
    fetched = dbx.files_get_metadata(path.upper())
    downloaded, response = dbx.files_download(path)
    with response:
        body = response.content

    assert body == data and emulator.file(path) == data
    assert emulator.files() == {path: data}
    assert isinstance(fetched, f.FileMetadata)
    for md in (uploaded, fetched, downloaded):
        assert (md.name, md.path_display, md.path_lower) == (
            "Ünïcode € \x7f.txt", path, path.lower())
        assert (md.rev, md.size, md.content_hash, md.id) == (
            uploaded.rev, len(data), content_hash(data), uploaded.id)
        assert len(md.rev) >= 9 and md.id.startswith("id:")
    # Header JSON both ways is ASCII with \u escapes, 0x7F included.
    result = response.headers["Dropbox-API-Result"]
    assert result.isascii() and "\\u00fc" in result and "\\u007f" in result
    sent = next(r for r in emulator.journal if r.route == "files/upload")
    assert sent.headers["dropbox-api-arg"].isascii() and sent.arg["path"] == path
    # The adapter hands back the request and URL the SDK made, not the loopback ones.
    assert response.url == "https://content.dropboxapi.com/2/files/download"
    assert response.request.url == response.url and "Host" not in response.request.headers
    assert isinstance(dbx.files_get_metadata("/DÖKÜMANLAR"), f.FolderMetadata)


def test_every_answer_has_a_request_id_and_exact_json_type(emulator: DropboxEmulator) -> None:
    ok = raw(emulator, "users/get_current_account", body=b"null")
    missing = raw(emulator, "files/get_metadata", arg={"path": "/nothing"})
    for response in (ok, missing):
        assert response.headers["Content-Type"] == "application/json"
        assert len(response.headers["X-Dropbox-Request-Id"]) == 32
    assert missing.status_code == 409
    assert missing.json() == {"error_summary": "path/not_found/..",
                              "error": {".tag": "path", "path": {".tag": "not_found"}}}


def test_account_and_space_usage_decode(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    account = dbx.users_get_current_account()
    assert account.account_id == emulator.account_id and len(account.account_id) == 40
    assert account.root_info.root_namespace_id
    emulator.put_file("/x", b"12345")
    assert dbx.users_get_space_usage().used == 5


# --- write modes ------------------------------------------------------------------------------

def test_update_with_a_stale_rev_is_a_conflict(dbx: dropbox.Dropbox,
                                               emulator: DropboxEmulator) -> None:
    mine = dbx.files_upload(b"v1", "/Report.docx")
    theirs = emulator.put_file("/report.docx", b"v2 from another device")

    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"v1 edited", "/Report.docx", mode=f.WriteMode.update(mine.rev))

    error = caught.value.error
    assert error.is_path() and error.get_path().reason.is_conflict()
    assert error.get_path().reason.get_conflict().is_file()
    assert caught.value.request_id
    assert emulator.file("/Report.docx") == b"v2 from another device"
    assert int(theirs["rev"], 16) > int(mine.rev, 16)
    # With the current rev the update goes through, and the id stays.
    updated = dbx.files_upload(b"v3", "/Report.docx", mode=f.WriteMode.update(theirs["rev"]))
    assert updated.id == mine.id and int(updated.rev, 16) > int(theirs["rev"], 16)


def test_identical_content_is_no_new_revision_nor_a_conflict(dbx: dropbox.Dropbox) -> None:
    first = dbx.files_upload(b"same", "/a.txt")
    assert dbx.files_upload(b"same", "/a.txt").rev == first.rev
    assert dbx.files_upload(b"same", "/a.txt", mode=f.WriteMode.overwrite).rev == first.rev
    assert dbx.files_upload(b"same", "/a.txt", mode=f.WriteMode.update("0" * 12)).rev == first.rev
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"same", "/a.txt", strict_conflict=True)
    assert caught.value.error.get_path().reason.get_conflict().is_file()


def test_add_and_overwrite(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    first = dbx.files_upload(b"one", "/a.txt")
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"two", "/a.txt")
    assert caught.value.error.get_path().reason.get_conflict().is_file()
    replaced = dbx.files_upload(b"two", "/A.TXT", mode=f.WriteMode.overwrite)
    assert (replaced.id, replaced.path_display) == (first.id, "/a.txt")
    assert int(replaced.rev, 16) > int(first.rev, 16)
    assert emulator.file("/a.txt") == b"two"


def test_autorename(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    first = dbx.files_upload(b"one", "/d/notes.txt")
    assert dbx.files_upload(b"two", "/d/notes.txt", autorename=True).name == "notes (2).txt"
    assert dbx.files_upload(b"three", "/d/notes.txt", autorename=True).name == "notes (3).txt"
    emulator.put_file("/d/notes.txt", b"changed elsewhere")
    copy = dbx.files_upload(b"mine", "/d/notes.txt", mode=f.WriteMode.update(first.rev),
                            autorename=True)
    assert copy.path_display == "/d/notes (conflicted copy).txt"
    assert emulator.file("/d/notes.txt") == b"changed elsewhere"


def test_update_after_a_delete_recreates_unless_strict(dbx: dropbox.Dropbox,
                                                       emulator: DropboxEmulator) -> None:
    gone = dbx.files_upload(b"one", "/a.txt")
    emulator.delete_file("/a.txt")
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"two", "/a.txt", mode=f.WriteMode.update(gone.rev),
                         strict_conflict=True)
    assert caught.value.error.get_path().reason.is_conflict()
    back = dbx.files_upload(b"two", "/a.txt", mode=f.WriteMode.update(gone.rev))
    assert back.id != gone.id and emulator.file("/a.txt") == b"two"


def test_things_in_the_way(dbx: dropbox.Dropbox) -> None:
    dbx.files_upload(b"file", "/a.txt")
    dbx.files_upload(b"inner", "/dir/inner.txt")
    for path, expected in [("/a.txt/b.txt", "is_file_ancestor"), ("/Dir", "is_folder")]:
        with pytest.raises(dbx_errors.ApiError) as caught:
            dbx.files_upload(b"x", path)
        assert getattr(caught.value.error.get_path().reason.get_conflict(), expected)()
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"x", "/dir/")
    assert caught.value.error.get_path().reason.is_malformed_path()


def test_revs_increase_with_every_write(emulator: DropboxEmulator) -> None:
    revs = [emulator.put_file("/a", b"same")["rev"] for _ in range(3)]
    revs.append(emulator.put_file("/b", b"other")["rev"])
    assert [int(rev, 16) for rev in revs] == sorted(int(rev, 16) for rev in set(revs))
    assert all(len(rev) >= 9 for rev in revs)


# --- metadata, download, delete ---------------------------------------------------------------

def test_get_metadata(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_get_metadata("/missing.txt")
    assert caught.value.error.is_path() and caught.value.error.get_path().is_not_found()
    md = emulator.put_file("/Folder/Sub/x.txt", b"x")
    assert dbx.files_get_metadata(md["id"]).path_display == "/Folder/Sub/x.txt"
    folder = dbx.files_get_metadata("/folder/sub")
    assert isinstance(folder, f.FolderMetadata) and folder.path_display == "/Folder/Sub"
    emulator.delete_file("/folder/sub/X.TXT")
    assert isinstance(dbx.files_get_metadata("/folder/sub/x.txt", include_deleted=True),
                      f.DeletedMetadata)
    assert isinstance(dbx.files_get_metadata("/folder/sub"), f.FolderMetadata)  # folders stay


def test_old_revisions_by_rev(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    old = emulator.put_file("/v.txt", b"old")
    emulator.put_file("/v.txt", b"new")
    md, response = dbx.files_download(f"rev:{old['rev']}")
    with response:
        assert (response.content, md.rev) == (b"old", old["rev"])
    assert dbx.files_get_metadata(f"rev:{old['rev']}").size == 3


def test_download_errors(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.put_file("/dir/x.txt", b"x")
    for path, expected in [("/nope", "is_not_found"), ("/dir", "is_not_file")]:
        with pytest.raises(dbx_errors.ApiError) as caught:
            dbx.files_download(path)
        assert getattr(caught.value.error.get_path(), expected)()


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=10-19", slice(10, 20)), ("bytes=1000-", slice(1000, None)),
    ("bytes=-24", slice(-24, None)), ("bytes=1020-5000", slice(1020, None)),
])
def test_download_range(dbx: dropbox.Dropbox, emulator: DropboxEmulator, header: str,
                        expected: slice) -> None:
    data = bytes(range(256)) * 4
    emulator.put_file("/r.bin", data)
    md, response = dbx.files_download("/r.bin", extra_headers={"Range": header})
    with response:
        assert response.status_code == 206 and response.content == data[expected]
    assert md.size == len(data)
    assert response.headers["Content-Range"].endswith(f"/{len(data)}")


def test_unsatisfiable_range(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.put_file("/r.bin", b"abc")
    with pytest.raises(dbx_errors.HttpError) as caught:
        dbx.files_download("/r.bin", extra_headers={"Range": "bytes=3-"})
    assert caught.value.status_code == 416


def test_delete(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    kept = emulator.put_file("/keep.txt", b"k")
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_delete_v2("/keep.txt", parent_rev="0" * 12)
    assert caught.value.error.is_path_write()
    assert caught.value.error.get_path_write().get_conflict().is_file()
    assert emulator.file("/keep.txt") == b"k"

    deleted = dbx.files_delete_v2("/KEEP.txt", parent_rev=kept["rev"]).metadata
    assert isinstance(deleted, f.FileMetadata) and deleted.rev == kept["rev"]
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_delete_v2("/keep.txt")
    error = caught.value.error
    assert error.is_path_lookup() and error.get_path_lookup().is_not_found()

    emulator.put_file("/dir/a", b"a")
    emulator.put_file("/dir/sub/b", b"b")
    assert isinstance(dbx.files_delete_v2("/dir").metadata, f.FolderMetadata)
    assert emulator.files() == {} and emulator.metadata("/dir/sub") is None


# --- upload sessions --------------------------------------------------------------------------

def test_upload_session_with_offset_errors(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    session_id = dbx.files_upload_session_start(b"abc").session_id
    dbx.files_upload_session_append_v2(b"def", f.UploadSessionCursor(session_id, 3))

    with pytest.raises(dbx_errors.ApiError) as caught:  # the same append again
        dbx.files_upload_session_append_v2(b"def", f.UploadSessionCursor(session_id, 3))
    assert caught.value.error.get_incorrect_offset().correct_offset == 6
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_finish(b"gh", f.UploadSessionCursor(session_id, 5),
                                        f.CommitInfo("/s.bin"))
    lookup = caught.value.error.get_lookup_failed()
    assert lookup.get_incorrect_offset().correct_offset == 6

    md = dbx.files_upload_session_finish(b"gh", f.UploadSessionCursor(session_id, 6),
                                         f.CommitInfo("/s.bin"))
    assert (md.size, md.content_hash) == (8, content_hash(b"abcdefgh"))
    assert emulator.file("/s.bin") == b"abcdefgh"
    with pytest.raises(dbx_errors.ApiError) as caught:  # a session is used once
        dbx.files_upload_session_finish(b"", f.UploadSessionCursor(session_id, 8),
                                        f.CommitInfo("/s.bin"))
    assert caught.value.error.get_lookup_failed().is_not_found()
    # The SDK hashed every request's bytes, and the emulator checked each.
    for record in emulator.journal:
        if record.route.startswith("files/upload_session/"):
            assert len(record.arg["content_hash"]) == 64


def test_upload_session_unknown_closed_and_expired(dbx: dropbox.Dropbox,
                                                   emulator: DropboxEmulator) -> None:
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_append_v2(b"x", f.UploadSessionCursor("nope", 0))
    assert caught.value.error.is_not_found()

    closed = dbx.files_upload_session_start(b"abc", close=True).session_id
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_append_v2(b"x", f.UploadSessionCursor(closed, 3))
    assert caught.value.error.is_closed()

    emulator.expire_upload_sessions()
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_finish(b"", f.UploadSessionCursor(closed, 3),
                                        f.CommitInfo("/x"))
    assert caught.value.error.get_lookup_failed().is_not_found()


def test_a_failed_commit_keeps_the_session(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.put_file("/taken", b"someone else's")
    session_id = dbx.files_upload_session_start(b"mine").session_id
    cursor = f.UploadSessionCursor(session_id, 4)
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_finish(b"!", cursor, f.CommitInfo("/taken"))
    assert caught.value.error.get_path().get_conflict().is_file()
    md = dbx.files_upload_session_finish(b"!", cursor, f.CommitInfo("/free"))
    assert md.size == 5 and emulator.file("/free") == b"mine!"


def test_finish_batch_v2(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    def session(data: bytes, close: bool) -> f.UploadSessionCursor:
        return f.UploadSessionCursor(
            dbx.files_upload_session_start(data, close=close).session_id, len(data))

    entries = [f.UploadSessionFinishArg(session(b"one", True), f.CommitInfo("/b/1")),
               f.UploadSessionFinishArg(session(b"two", True), f.CommitInfo("/b/2")),
               f.UploadSessionFinishArg(session(b"open", False), f.CommitInfo("/b/3"))]
    result = dbx.files_upload_session_finish_batch_v2(entries).entries
    assert [entry.is_success() for entry in result] == [True, True, False]
    assert result[1].get_success().path_display == "/b/2"
    assert result[2].get_failure().get_lookup_failed().is_not_closed()
    assert emulator.files() == {"/b/1": b"one", "/b/2": b"two"}


@pytest.mark.parametrize("parallel", [0, 2])
def test_the_sdks_uploader(dbx: dropbox.Dropbox, emulator: DropboxEmulator,
                           monkeypatch: pytest.MonkeyPatch, parallel: int) -> None:
    monkeypatch.setattr(dropbox.file_transfer, "time", SimpleNamespace(sleep=lambda s: None))
    data = bytes(range(256)) * (8 * MiB // 256) * 2 + b"tail"
    # One append's response is lost on the way; the uploader recovers from correct_offset.
    emulator.inject("files/upload_session/append_v2", process_then_reset())

    result = dropbox.file_transfer.Uploader(dbx).upload(
        dropbox.file_transfer.BytesUpload(data), f.CommitInfo("/big.bin"),
        dropbox.file_transfer.UploadOptions(parallel_uploads=parallel))

    assert result.metadata.content_hash == content_hash(data)
    assert emulator.file("/big.bin") == data
    start = next(r for r in emulator.journal if r.route == "files/upload_session/start")
    assert start.arg.get("session_type", {}).get(".tag", "sequential") == (
        "concurrent" if parallel else "sequential")


# --- lost responses ---------------------------------------------------------------------------

def test_a_lost_append_response_shows_as_incorrect_offset(dbx: dropbox.Dropbox,
                                                          emulator: DropboxEmulator) -> None:
    session_id = dbx.files_upload_session_start(b"").session_id
    rule = emulator.inject("files/upload_session/append_v2", process_then_reset())

    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload_session_append_v2(b"0123456789", f.UploadSessionCursor(session_id, 0))
    with pytest.raises(dbx_errors.ApiError) as caught:  # the retry
        dbx.files_upload_session_append_v2(b"0123456789", f.UploadSessionCursor(session_id, 0))
    assert caught.value.error.get_incorrect_offset().correct_offset == 10
    dbx.files_upload_session_finish(b"!", f.UploadSessionCursor(session_id, 10),
                                    f.CommitInfo("/lost.txt"))

    assert emulator.file("/lost.txt") == b"0123456789!"
    assert rule.fired == 1 and not emulator.faults_pending()
    appends = [r for r in emulator.journal if r.route == "files/upload_session/append_v2"]
    assert [(r.status, r.fault is not None) for r in appends] == [(None, True), (409, False)]


def test_a_lost_finish_response(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    session_id = dbx.files_upload_session_start(b"data").session_id
    emulator.inject("files/upload_session/finish", process_then_reset())
    cursor, commit = f.UploadSessionCursor(session_id, 4), f.CommitInfo("/f.txt")
    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload_session_finish(b"", cursor, commit)
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_finish(b"", cursor, commit)
    assert caught.value.error.get_lookup_failed().is_not_found()
    assert emulator.file("/f.txt") == b"data"


def test_a_lost_upload_response_then_the_retry_is_a_no_op(dbx: dropbox.Dropbox,
                                                          emulator: DropboxEmulator) -> None:
    emulator.inject("files/upload", process_then_reset())
    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload(b"once", "/once.txt")
    first = emulator.metadata("/once.txt")
    assert first is not None
    assert dbx.files_upload(b"once", "/once.txt").rev == first["rev"]


def test_a_failure_that_landed(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.inject("files/upload", process_then(server_error(503)))
    with pytest.raises(dbx_errors.InternalServerError):
        dbx.files_upload(b"landed", "/l.txt")
    assert emulator.file("/l.txt") == b"landed"
    assert routes(emulator)[-1] == ("files/upload", 503)


def test_reset_drops_the_request_unhandled(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.inject("files/upload", reset())
    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload(b"never", "/never.txt")
    assert emulator.file("/never.txt") is None
    assert routes(emulator)[-1] == ("files/upload", None)
    dbx.files_upload(b"now", "/never.txt")  # the client's pool recovers


# --- tokens -----------------------------------------------------------------------------------

def test_an_expired_token_is_refreshed_once(dbx: dropbox.Dropbox,
                                            emulator: DropboxEmulator) -> None:
    dbx.files_upload(b"x", "/t.txt")
    assert routes(emulator) == [("oauth2/token", 200), ("files/upload", 200)]
    emulator.clear_journal()
    emulator.expire_access_tokens()

    assert dbx.files_get_metadata("/t.txt").size == 1
    assert routes(emulator) == [("files/get_metadata", 401), ("oauth2/token", 200),
                                ("files/get_metadata", 200)]
    refresh = emulator.journal[1]
    assert refresh.host == "api.dropboxapi.com" and refresh.arg["grant_type"] == "refresh_token"
    assert refresh.arg["client_id"] == emulator.app_key


def test_two_expired_answers_in_a_row_are_raised(dbx: dropbox.Dropbox,
                                                 emulator: DropboxEmulator) -> None:
    emulator.inject("files/get_metadata", expired_token(), times=2)
    with pytest.raises(dbx_errors.AuthError) as caught:
        dbx.files_get_metadata("/t.txt")
    assert caught.value.error.is_expired_access_token()
    assert [r for r, _ in routes(emulator)].count("oauth2/token") == 2  # up front, then once


def test_a_revoked_refresh_token_is_an_auth_error(emulator: DropboxEmulator) -> None:
    token = emulator.link_account()
    emulator.revoke_refresh_token(token)
    with dropbox.Dropbox(oauth2_refresh_token=token, app_key=emulator.app_key,
                         session=emulator.session()) as revoked, \
            pytest.raises(dbx_errors.AuthError) as caught:
        revoked.users_get_current_account()
    assert caught.value.error.is_invalid_access_token()
    assert routes(emulator) == [("oauth2/token", 400)]
    with pytest.raises(KeyError):
        emulator.revoke_refresh_token("never issued")


def test_revoking_also_ends_the_access_tokens(dbx: dropbox.Dropbox,
                                              emulator: DropboxEmulator) -> None:
    dbx.users_get_current_account()
    emulator.revoke_refresh_token(dbx._oauth2_refresh_token)
    with pytest.raises(dbx_errors.AuthError) as caught:
        dbx.users_get_current_account()
    assert caught.value.error.is_invalid_access_token()


def test_access_tokens(emulator: DropboxEmulator) -> None:
    with dropbox.Dropbox(oauth2_access_token="unknown", session=emulator.session()) as stranger, \
            pytest.raises(dbx_errors.AuthError) as caught:
        stranger.users_get_current_account()
    assert caught.value.error.is_invalid_access_token()
    with dropbox.Dropbox(oauth2_access_token=emulator.issue_access_token(),
                         session=emulator.session()) as plain:
        assert plain.users_get_current_account().account_id == emulator.account_id


def test_a_short_token_lifetime_expires_by_itself() -> None:
    with DropboxEmulator(access_token_ttl=0) as emulator:
        response = raw(emulator, "users/get_current_account", body=b"null")
        assert response.status_code == 401
        assert response.json()["error"] == {".tag": "expired_access_token"}


def test_the_pkce_flow(emulator: DropboxEmulator) -> None:
    flow = dropbox.DropboxOAuth2FlowNoRedirect(emulator.app_key, use_pkce=True,
                                               token_access_type="offline")
    flow.requests_session.close()
    flow.requests_session = emulator.session()
    authorize_url = flow.start()
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]

    code = emulator.mint_auth_code(query["code_challenge"][0])
    result = flow.finish(code)

    assert result.refresh_token and result.account_id == emulator.account_id
    assert result.expires_at is not None and result.user_id == emulator.uid
    token_call = emulator.journal[-1]
    assert token_call.arg["grant_type"] == "authorization_code"
    assert token_call.arg["code_verifier"] == flow.code_verifier
    with dropbox.Dropbox(oauth2_refresh_token=result.refresh_token, app_key=emulator.app_key,
                         session=emulator.session()) as linked:
        assert linked.users_get_current_account().account_id == emulator.account_id
    with pytest.raises(requests.exceptions.HTTPError):  # codes are single-use
        flow.finish(code)


def test_the_authorize_page_gives_the_code(emulator: DropboxEmulator) -> None:
    flow = dropbox.DropboxOAuth2FlowNoRedirect(emulator.app_key, use_pkce=True,
                                               token_access_type="offline")
    flow.requests_session.close()
    flow.requests_session = session = emulator.session()
    page = session.get(flow.start())
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/plain")
    assert flow.finish(page.text).refresh_token

    other = dropbox.DropboxOAuth2FlowNoRedirect(emulator.app_key, use_pkce=True)
    other.requests_session.close()
    other.requests_session = session
    stolen = session.get(flow.start()).text  # a code minted for another flow's challenge
    with pytest.raises(requests.exceptions.HTTPError):
        other.finish(stolen)
    assert emulator.journal[-1].status == 400
    bad = session.get("https://www.dropbox.com/oauth2/authorize?response_type=code&client_id=x")
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("text/plain")


def test_the_token_endpoint_checks_the_client(emulator: DropboxEmulator) -> None:
    with emulator.session() as session:
        wrong = session.post("https://api.dropboxapi.com/oauth2/token", data={
            "grant_type": "refresh_token", "refresh_token": emulator.link_account(),
            "client_id": "someone-else"})
        odd = session.post("https://api.dropboxapi.com/oauth2/token", data={
            "grant_type": "password", "client_id": emulator.app_key})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    assert odd.status_code == 400 and odd.json()["error"] == "unsupported_grant_type"


# --- rate limits and server errors ------------------------------------------------------------

def test_429_with_retry_after_in_the_body(dbx: dropbox.Dropbox, emulator: DropboxEmulator,
                                          sleeps: list[float]) -> None:
    emulator.inject("files/upload", rate_limited(retry_after=3))
    dbx.files_upload(b"x", "/x")
    assert sleeps == [3]
    assert routes(emulator)[-2:] == [("files/upload", 429), ("files/upload", 200)]


def test_429_json_without_retry_after_ignores_the_header(dbx: dropbox.Dropbox,
                                                          emulator: DropboxEmulator,
                                                          sleeps: list[float]) -> None:
    emulator.inject("files/upload", rate_limited(retry_after=None, header=15))
    dbx.files_upload(b"x", "/x")
    assert sleeps == [1]  # the stone default; the SDK never reads Retry-After here


def test_429_in_plain_text_uses_the_header(dbx: dropbox.Dropbox, emulator: DropboxEmulator,
                                           sleeps: list[float]) -> None:
    emulator.inject("files/upload", rate_limited(header=7, json=False, reason="too_many_requests"))
    dbx.files_upload(b"x", "/x")
    assert sleeps == [7]


def test_an_endless_429_ends_with_rate_limit_error(dbx: dropbox.Dropbox,
                                                   emulator: DropboxEmulator,
                                                   sleeps: list[float]) -> None:
    rule = emulator.inject("files/upload", rate_limited(retry_after=2), times=None)
    with pytest.raises(dbx_errors.RateLimitError) as caught:
        dbx.files_upload(b"x", "/x")
    assert caught.value.backoff == 2 and caught.value.error.reason.is_too_many_write_operations()
    assert sleeps == [2] and rule.fired == 2
    assert emulator.faults_pending() == [rule]
    rule.cancel()
    assert emulator.faults_pending() == []
    assert emulator.file("/x") is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("route", ["files/upload", "files/upload_session/append_v2",
                                   "files/upload_session/finish", "oauth2/token"])
def test_server_errors(dbx: dropbox.Dropbox, emulator: DropboxEmulator, status: int,
                       route: str) -> None:
    emulator.inject(route, server_error(status))
    with pytest.raises(dbx_errors.InternalServerError) as caught:
        if route == "files/upload":
            dbx.files_upload(b"x", "/x")
        elif route == "oauth2/token":
            dbx.users_get_current_account()
        else:
            session_id = dbx.files_upload_session_start(b"x").session_id
            cursor = f.UploadSessionCursor(session_id, 1)
            if route.endswith("append_v2"):
                dbx.files_upload_session_append_v2(b"y", cursor)
            else:
                dbx.files_upload_session_finish(b"y", cursor, f.CommitInfo("/x"))
    assert caught.value.status_code == status and caught.value.request_id
    assert emulator.file("/x") is None


def test_5xx_retried_by_the_sdk(emulator: DropboxEmulator, sleeps: list[float]) -> None:
    emulator.inject("oauth2/token", server_error(503))
    emulator.inject("files/upload", server_error(500), times=2)
    with client(emulator, max_retries_on_error=2) as retrying:
        retrying.files_upload(b"x", "/x")
    assert len(sleeps) == 3 and emulator.file("/x") == b"x"


def test_a_charset_in_the_content_type_trips_the_sdk(dbx: dropbox.Dropbox,
                                                     emulator: DropboxEmulator) -> None:
    emulator.put_file("/x", b"x")
    emulator.inject("files/get_metadata", charset_content_type())
    with pytest.raises(AssertionError, match="charset=utf-8"):
        dbx.files_get_metadata("/x")


# --- other injected failures ------------------------------------------------------------------

def test_corrupted_uploads_fail_the_hash_check(dbx: dropbox.Dropbox,
                                               emulator: DropboxEmulator) -> None:
    emulator.inject("files/upload", corrupt())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"precious", "/p.txt")
    assert caught.value.error.is_content_hash_mismatch() and emulator.file("/p.txt") is None

    session_id = dbx.files_upload_session_start(b"").session_id
    emulator.inject("files/upload_session/append_v2", corrupt())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_append_v2(b"chunk", f.UploadSessionCursor(session_id, 0))
    assert caught.value.error.is_content_hash_mismatch()
    dbx.files_upload_session_append_v2(b"chunk", f.UploadSessionCursor(session_id, 0))


def test_without_a_hash_corruption_is_stored(emulator: DropboxEmulator) -> None:
    emulator.inject("files/upload", corrupt())
    with client(emulator, auto_content_hash=False) as trusting:
        md = trusting.files_upload(b"precious", "/p.txt")
    assert emulator.file("/p.txt") != b"precious"
    assert md.content_hash == content_hash(emulator.file("/p.txt")) != content_hash(b"precious")


def test_corrupted_and_truncated_downloads(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.put_file("/d.bin", b"0123456789")
    emulator.inject("files/download", corrupt())
    md, response = dbx.files_download("/d.bin")
    with response:
        assert len(response.content) == 10
        assert content_hash(response.content) != md.content_hash

    emulator.inject("files/download", truncate_body(3))
    md, response = dbx.files_download("/d.bin")
    with response, pytest.raises(requests.exceptions.ChunkedEncodingError):
        response.content  # noqa: B018 (reading is the point)


def test_write_failures_in_each_routes_union(dbx: dropbox.Dropbox,
                                             emulator: DropboxEmulator) -> None:
    emulator.inject("files/upload", insufficient_space())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"x", "/x")
    assert caught.value.error.get_path().reason.is_insufficient_space()

    emulator.inject("files/upload", too_many_write_operations())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"x", "/x")
    assert caught.value.error.get_path().reason.is_too_many_write_operations()

    session_id = dbx.files_upload_session_start(b"x").session_id
    cursor, commit = f.UploadSessionCursor(session_id, 1), f.CommitInfo("/x")
    emulator.inject("files/upload_session/finish", too_many_write_operations())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_finish(b"", cursor, commit)
    assert caught.value.error.is_too_many_write_operations()
    emulator.inject("files/upload_session/finish", insufficient_space())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_finish(b"", cursor, commit)
    assert caught.value.error.get_path().is_insufficient_space()

    dbx.files_upload_session_finish(b"", cursor, commit)  # the session survived both
    emulator.inject("files/delete_v2", too_many_write_operations())
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_delete_v2("/x")
    assert caught.value.error.is_too_many_write_operations()


def test_the_quota(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.set_quota(10)
    dbx.files_upload(b"0123456789", "/ten")
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"1", "/one")
    assert caught.value.error.get_path().reason.is_insufficient_space()
    dbx.files_upload(b"abc", "/ten", mode=f.WriteMode.overwrite)  # replacing frees the old bytes
    assert dbx.users_get_space_usage().allocation.get_individual().allocated == 10


def test_payload_too_large(dbx: dropbox.Dropbox, emulator: DropboxEmulator,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator, "max_upload_bytes", 8)
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload(b"123456789", "/big")
    assert caught.value.error.is_payload_too_large()
    session_id = dbx.files_upload_session_start(b"12345678").session_id
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_upload_session_append_v2(b"123456789", f.UploadSessionCursor(session_id, 8))
    assert caught.value.error.is_payload_too_large()


def test_a_slow_answer_and_a_client_timeout() -> None:
    with DropboxEmulator() as emulator:  # its own, so the late answer lands nowhere else
        emulator.put_file("/x", b"x")
        emulator.inject("files/get_metadata", delay(0.01))
        with client(emulator) as patient:
            assert patient.files_get_metadata("/x").size == 1
        emulator.inject("files/get_metadata", delay(0.3))
        with dropbox.Dropbox(oauth2_access_token=emulator.issue_access_token(),
                             session=emulator.session(), timeout=0.05) as impatient, \
                pytest.raises(requests.exceptions.ReadTimeout):
            impatient.files_get_metadata("/x")


# --- the fault rules themselves ---------------------------------------------------------------

def test_nth_times_and_order(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.put_file("/x", b"x")
    late = emulator.inject("files/get_metadata", server_error(500), nth=2)
    dbx.files_get_metadata("/x")
    with pytest.raises(dbx_errors.InternalServerError):
        dbx.files_get_metadata("/x")
    dbx.files_get_metadata("/x")
    assert (late.seen, late.fired) == (2, 1)

    emulator.inject("files/get_metadata", server_error(503))
    emulator.inject("files/get_metadata", server_error(502))
    statuses = []
    for _ in range(3):
        try:
            dbx.files_get_metadata("/x")
            statuses.append(200)
        except dbx_errors.InternalServerError as exc:
            statuses.append(exc.status_code)
    assert statuses == [503, 502, 200]


def test_rules_by_host_and_any_route(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    dbx.users_get_current_account()
    rule = emulator.inject("*", server_error(500), host="content.dropboxapi.com", times=None)
    emulator.put_file("/x", b"x")
    assert dbx.files_get_metadata("/x").size == 1
    with pytest.raises(dbx_errors.InternalServerError):
        dbx.files_download("/x")
    rule.cancel()


def test_respond_with_anything(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    emulator.put_file("/x", b"x")
    emulator.inject("files/get_metadata", respond(
        409, {"error_summary": "path/not_found/..",
              "error": {".tag": "path", "path": {".tag": "not_found"}}}))
    with pytest.raises(dbx_errors.ApiError) as caught:
        dbx.files_get_metadata("/x")
    assert caught.value.error.get_path().is_not_found()
    emulator.inject("files/get_metadata", respond(418, "teapot", headers={"X-Why": "tests"}))
    with pytest.raises(dbx_errors.HttpError) as caught:
        dbx.files_get_metadata("/x")
    assert (caught.value.status_code, caught.value.body) == (418, "teapot")


def test_inject_refuses_nonsense(emulator: DropboxEmulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        emulator.inject("files/uplaod", reset())
    with pytest.raises(ValueError, match="not to 'files/get_metadata'"):
        emulator.inject("files/get_metadata", insufficient_space())
    with pytest.raises(ValueError, match="unknown host"):
        emulator.inject("files/upload", reset(), host="example.com")
    with pytest.raises(ValueError, match="count requests from 1"):
        emulator.inject("files/upload", reset(), nth=0)
    assert emulator.inject("/2/files/upload", reset()).route == "files/upload"


# --- malformed requests -----------------------------------------------------------------------

@pytest.mark.parametrize(("route", "kwargs", "message"), [
    ("files/nope", {"arg": {}}, "Unknown API function"),
    ("files/get_metadata", {"arg": {"path": "/x"}, "content_type": "text/plain"},
     "Content-Type"),
    ("files/get_metadata", {"body": b"{not json"}, "could not decode"),
    ("files/get_metadata", {"arg": {}}, "missing required field 'path'"),
    ("files/get_metadata", {"arg": {"path": "x"}}, "does not match"),
    ("files/get_metadata", {"arg": {"path": "/x"}, "token": None}, "Authorization"),
    ("files/upload", {"arg": {"path": "/x"}, "body": b"x", "content_type":
                      "application/octet-stream"}, "served by content.dropboxapi.com"),
    ("files/upload", {"host": "content", "arg": {"path": "/x", "mode": "update"},
                      "body": b"x", "content_type": "application/octet-stream"},
     "not a Void member"),
    ("files/upload", {"host": "content", "arg": '{"path": "/\u00e9"}', "body": b"x",
                      "content_type": "application/octet-stream"}, "must be ASCII"),
    ("files/upload", {"host": "content", "arg": {"path": "/x"}, "body": b"x"},
     "application/octet-stream"),
    ("files/upload", {"host": "content", "arg": {"path": "/x", "content_hash": "ab"},
                      "body": b"x", "content_type": "application/octet-stream"},
     "64 characters"),
])
def test_malformed_requests_get_a_400_explanation(emulator: DropboxEmulator, route: str,
                                                  kwargs: dict, message: str) -> None:
    response = raw(emulator, route, **kwargs)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert message in response.text and response.headers["X-Dropbox-Request-Id"]


def test_union_shorthand_and_defaults(emulator: DropboxEmulator) -> None:
    upload = {"host": "content", "content_type": "application/octet-stream"}
    first = raw(emulator, "files/upload", arg={"path": "/s.txt"}, body=b"1", **upload)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/json"
    assert ".tag" not in first.json()  # a FileMetadata struct, as Dropbox sends it
    again = raw(emulator, "files/upload", arg={"path": "/s.txt", "mode": "overwrite"},
                body=b"2", **upload)
    tagged = raw(emulator, "files/upload", arg={"path": "/s.txt", "mode": {".tag": "add"}},
                 body=b"3", **upload)
    update = raw(emulator, "files/upload", body=b"4", **upload, arg={
        "path": "/s.txt", "mode": {".tag": "update", "update": again.json()["rev"]}})
    assert (again.status_code, tagged.status_code, update.status_code) == (200, 409, 200)
    assert tagged.json()["error_summary"] == "path/conflict/file/.."
    assert emulator.file("/s.txt") == b"4"


def test_download_by_get_with_the_arg_in_the_url(emulator: DropboxEmulator) -> None:
    emulator.put_file("/g.txt", b"get")
    arg = quote(json.dumps({"path": "/g.txt"}))
    with emulator.session() as session:
        response = session.get(f"https://content.dropboxapi.com/2/files/download?arg={arg}",
                               headers={"Authorization": f"Bearer {emulator.issue_access_token()}"})
    assert response.status_code == 200 and response.content == b"get"
    assert json.loads(response.headers["Dropbox-API-Result"])["name"] == "g.txt"


# --- the adapter ------------------------------------------------------------------------------

def test_redirects_keep_the_original_request(emulator: DropboxEmulator) -> None:
    emulator.inject("files/get_metadata", respond(302, headers={
        "Location": "https://www.dropbox.com/elsewhere"}))
    with emulator.session() as session:
        response = session.post("https://api.dropboxapi.com/2/files/get_metadata",
                                headers={"Authorization": "Bearer secret"}, json={"path": "/x"})
    assert response.url == "https://www.dropbox.com/elsewhere"
    assert response.history[0].url == "https://api.dropboxapi.com/2/files/get_metadata"
    first, redirected = emulator.journal
    assert (first.host, redirected.host) == ("api.dropboxapi.com", "www.dropbox.com")
    assert "authorization" not in redirected.headers  # requests stripped it across hosts


def test_the_adapter_on_its_own(emulator: DropboxEmulator) -> None:
    with requests.Session() as session:
        session.mount("https://api.dropboxapi.com/", LoopbackAdapter(emulator.port))
        response = session.post("https://api.dropboxapi.com/2/users/get_current_account",
                                headers={"Authorization": f"Bearer {emulator.issue_access_token()}",
                                         "Content-Type": "application/json"}, data=b"null")
    assert response.status_code == 200 and response.request.url.startswith("https://api.")
    with loopback_session(emulator.url) as session:
        assert set(session.adapters) >= {
            "https://api.dropboxapi.com/", "https://content.dropboxapi.com/",
            "https://notify.dropboxapi.com/", "https://www.dropbox.com/"}
    with pytest.raises(ValueError, match="PORT"):
        loopback_session("http://127.0.0.1")


# --- direct state access and housekeeping -----------------------------------------------------

def test_another_devices_view(emulator: DropboxEmulator) -> None:
    md = emulator.put_file("/Team/Plan.txt", b"plan")
    assert md["path_display"] == "/Team/Plan.txt" and ".tag" not in md
    assert emulator.metadata("/team/plan.TXT") == {".tag": "file", **md}
    assert emulator.metadata("/team")[".tag"] == "folder"
    assert emulator.file("/TEAM/PLAN.TXT") == b"plan" and emulator.file("/nope") is None
    assert emulator.files() == {"/Team/Plan.txt": b"plan"}
    for bad in ("relative", "/trailing/", "/Team/Plan.txt/below", "/Team"):
        with pytest.raises(ValueError):
            emulator.put_file(bad, b"")
    emulator.delete_file("/team/plan.txt")
    with pytest.raises(FileNotFoundError):
        emulator.delete_file("/team/plan.txt")
    emulator.reset()
    assert emulator.files() == {} and emulator.metadata("/team") is None


def test_the_journal(dbx: dropbox.Dropbox, emulator: DropboxEmulator) -> None:
    dbx.files_upload(b"12345", "/j.txt")
    record = emulator.journal[-1]
    assert (record.method, record.host, record.route, record.body_len, record.status,
            record.fault) == ("POST", "content.dropboxapi.com", "files/upload", 5, 200, None)
    assert record.arg["path"] == "/j.txt" and record.arg["content_hash"] == content_hash(b"12345")
    assert record.headers["authorization"].startswith("Bearer ")
    emulator.clear_journal()
    assert emulator.journal == []


def test_start_stop_and_addresses() -> None:
    emulator = DropboxEmulator(app_key="other-app")
    with pytest.raises(RuntimeError):
        emulator.url  # noqa: B018
    assert emulator.start() is emulator
    with pytest.raises(RuntimeError):
        emulator.start()
    assert emulator.url == f"http://127.0.0.1:{emulator.port}"
    with client(emulator) as dbx:
        dbx.users_get_current_account()  # an open keep-alive connection when stopping
    emulator.stop()
    emulator.stop()
    with pytest.raises(RuntimeError):
        emulator.session()

def test_python_m_serves_until_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "edgesync_dropbox.testing"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[-1] == "Ctrl-C to stop.\n", lines
        url = lines[0].split(" at ", 1)[1].split()[0]
        assert requests.get(url + "/no-such-route", timeout=10).status_code >= 400
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
