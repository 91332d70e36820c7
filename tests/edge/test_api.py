"""The edge's HTTP API end to end: a real server on loopback, real HTTPS, the local provider.

Every rule of the API has a test; every bad input shows its error and that
neither the store nor the cloud changed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import threading

import pytest
import requests

from edgesync import __version__
from edgesync.delta import diff
from edgesync.errors import (
    AuthError,
    RateLimitedError,
    ServiceUnavailableError,
)
from edgesync.testing.documents import edit_docx, edit_text, make_docx, make_text
from edgesync.testing.waiting import eventually

from .conftest import snapshot

DELTA = {"Content-Type": "application/vnd.edgesync.delta"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(edge, path: str, data: bytes, user: str = "me", **headers):
    return edge.session(user).put(edge.file_url(path), data=data, headers=headers)


def patch(edge, path: str, delta: bytes, user: str = "me"):
    return edge.session(user).patch(edge.file_url(path), data=delta, headers=DELTA)


@pytest.fixture
def docx():
    base = make_docx(paragraphs=20, images=1, seed=3)
    return base, edit_docx(base, "type", seed=1), edit_docx(edit_docx(base, "type", seed=1),
                                                            "paragraph", seed=2)


# --- unauthenticated endpoints ----------------------------------------------------------


def test_health_and_version_need_no_token(edge):
    session = edge.session(token="esk_wrong")
    assert session.get(f"{edge.url}/v1/health").json() == {"status": "ok"}
    version = session.get(f"{edge.url}/v1/version").json()
    assert version == {"edgesync": __version__, "api": 1, "delta_format": 1,
                       "mode": "personal", "provider": "faulty-local"}


def test_metrics_are_prometheus_text(edge, docx):
    base, new, _ = docx
    put(edge, "a.docx", base)
    patch(edge, "a.docx", diff(base, new))
    put(edge, "a%01b", b"no")
    response = edge.session().get(f"{edge.url}/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'edgesync_requests_total{outcome="ok"} 2' in text
    assert 'edgesync_requests_total{outcome="invalid_path"} 1' in text
    assert f"edgesync_bytes_uploaded_total {len(base) + len(new)}" in text
    saved = len(new) - len(diff(base, new))
    assert f"edgesync_bytes_saved_total {saved}" in text
    assert "edgesync_upload_queue_depth 0" in text
    assert 'edgesync_upload_seconds_bucket{le="+Inf"} 2' in text
    assert "a.docx" not in text  # no user data in metrics


# --- saves -------------------------------------------------------------------------------


def test_full_upload_then_delta_reaches_the_cloud(edge, docx):
    base, new, newer = docx
    response = put(edge, "Reports/q3.docx", base)
    assert response.status_code == 200
    body = response.json()
    assert body["sha256"] == sha(base) and body["size"] == len(base)
    assert body["upload"]["state"] == "uploaded" and body["upload"]["revision"]
    assert body["received"] == len(base) and body["saved"] == 0
    assert (edge.cloud / "Reports" / "q3.docx").read_bytes() == base

    for old, version in ((base, new), (new, newer)):
        delta = diff(old, version)
        response = patch(edge, "Reports/q3.docx", delta)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sha256"] == sha(version) and body["exact"] is True
        assert body["received"] == len(delta) < len(version) // 10
        assert body["saved"] == len(version) - len(delta)
        assert response.headers["ETag"] == f'"{sha(version)}"'
        assert (edge.cloud / "Reports" / "q3.docx").read_bytes() == version


def test_meta_list_and_download(edge, docx):
    base, new, _ = docx
    put(edge, "a.docx", base)
    patch(edge, "a.docx", diff(base, new))
    session = edge.session()
    meta = session.get(f"{edge.url}/v1/meta/a.docx").json()
    assert meta["sha256"] == sha(new) and meta["size"] == len(new)
    assert meta["upload"]["state"] == "uploaded"
    listing = session.get(f"{edge.url}/v1/files").json()
    assert [item["path"] for item in listing["files"]] == ["a.docx"]
    download = session.get(edge.file_url("a.docx"))
    assert download.content == new
    assert download.headers["X-Edgesync-Sha256"] == sha(new)
    cached = session.get(edge.file_url("a.docx"), headers={"If-None-Match": f'"{sha(new)}"'})
    assert cached.status_code == 304 and cached.content == b""
    missing = session.get(f"{edge.url}/v1/meta/nothing.docx")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_unicode_and_nested_paths(edge):
    path = "Überweisungen/2026/Ångström résumé 世界.txt"
    response = edge.session().put(edge.file_url(requests.utils.quote(path)), data=b"hello")
    assert response.status_code == 200, response.text
    assert response.json()["path"] == path
    assert (edge.cloud / path).read_bytes() == b"hello"


def test_zero_length_file(edge):
    assert put(edge, "empty.txt", b"").status_code == 200
    assert (edge.cloud / "empty.txt").read_bytes() == b""


def test_announced_sha256_is_checked(edge):
    before = snapshot(edge.cloud, edge.store_dir())
    response = put(edge, "a.txt", b"content", **{"X-Edgesync-Sha256": sha(b"other")})
    assert response.status_code == 400 and response.json()["code"] == "wire_format_error"
    assert "damaged" in response.json()["message"]
    assert snapshot(edge.cloud, edge.store_dir()) == before
    assert put(edge, "a.txt", b"content", **{"X-Edgesync-Sha256": sha(b"content")}).ok


# --- the base check ----------------------------------------------------------------------


def test_delta_against_another_base_is_refused_with_the_current_version(edge, docx):
    base, new, newer = docx
    put(edge, "a.docx", new)
    before = snapshot(edge.cloud, edge.store_dir())
    response = patch(edge, "a.docx", diff(base, newer))  # made against an older version
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "base_mismatch"
    assert body["expected"] == sha(base)
    assert body["current"] == {"sha256": sha(new), "size": len(new)}
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_if_match_and_if_none_match_on_full_uploads(edge):
    assert put(edge, "a.txt", b"one", **{"If-None-Match": "*"}).status_code == 200
    before = snapshot(edge.cloud, edge.store_dir())
    again = put(edge, "a.txt", b"two", **{"If-None-Match": "*"})
    assert again.status_code == 409 and again.json()["current"]["sha256"] == sha(b"one")
    stale = put(edge, "a.txt", b"two", **{"If-Match": f'"{sha(b"zero")}"'})
    assert stale.status_code == 409
    assert snapshot(edge.cloud, edge.store_dir()) == before
    fresh = put(edge, "a.txt", b"two", **{"If-Match": f'"{sha(b"one")}"'})
    assert fresh.status_code == 200 and (edge.cloud / "a.txt").read_bytes() == b"two"


def test_two_deltas_racing_on_one_base_one_wins(edge):
    base = make_text(lines=2000, seed=5)
    put(edge, "race.txt", base)
    versions = [edit_text(base, "type", seed=seed) for seed in range(1, 9)]
    deltas = [diff(base, version) for version in versions]
    results: list[requests.Response] = []
    barrier = threading.Barrier(len(deltas))

    def send(delta: bytes) -> None:
        session = edge.session()
        barrier.wait()
        results.append(session.patch(edge.file_url("race.txt"), data=delta, headers=DELTA))

    threads = [threading.Thread(target=send, args=(delta,)) for delta in deltas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(response.status_code for response in results)
    assert codes.count(200) == 1 and codes.count(409) == len(deltas) - 1
    winner = next(r for r in results if r.status_code == 200).json()["sha256"]
    assert sha((edge.cloud / "race.txt").read_bytes()) == winner


# --- the cloud changed elsewhere -----------------------------------------------------------


def test_a_change_in_the_cloud_is_never_overwritten(edge, docx):
    base, new, newer = docx
    put(edge, "a.docx", base)
    theirs = b"another device saved this"
    (edge.cloud / "a.docx").write_bytes(theirs)  # a change the edge did not make
    response = patch(edge, "a.docx", diff(base, new))
    assert response.status_code == 200
    upload = response.json()["upload"]
    assert upload["state"] == "conflict"
    copy = upload["conflict_path"]
    assert copy.startswith("a (edgesync conflict ") and copy.endswith(").docx")
    assert (edge.cloud / "a.docx").read_bytes() == theirs
    assert (edge.cloud / copy).read_bytes() == new
    # The next save goes on into the same conflict copy, still not over their file.
    response = patch(edge, "a.docx", diff(new, newer))
    assert response.json()["upload"]["state"] == "conflict"
    assert response.json()["upload"]["conflict_path"] == copy
    assert (edge.cloud / copy).read_bytes() == newer
    assert (edge.cloud / "a.docx").read_bytes() == theirs
    meta = edge.session().get(f"{edge.url}/v1/meta/a.docx").json()
    assert meta["upload"]["state"] == "conflict"


def test_first_upload_over_an_unknown_cloud_file_makes_a_conflict_copy(edge):
    (edge.cloud / "notes.txt").write_bytes(b"written by someone else")
    response = put(edge, "notes.txt", b"mine")
    assert response.json()["upload"]["state"] == "conflict"
    assert (edge.cloud / "notes.txt").read_bytes() == b"written by someone else"


def test_first_upload_over_the_devices_own_base_replaces_it(edge):
    (edge.cloud / "notes.txt").write_bytes(b"version 1")
    response = put(edge, "notes.txt", b"version 2", **{"X-Edgesync-Base": sha(b"version 1")})
    assert response.json()["upload"]["state"] == "uploaded"
    assert (edge.cloud / "notes.txt").read_bytes() == b"version 2"


# --- cold start ----------------------------------------------------------------------------


def test_cold_start_fetches_the_base_from_the_cloud(make_edge, docx):
    base, new, _ = docx
    first = make_edge(folder="edge1")
    put(first, "a.docx", base)
    first.server.stop()
    second = make_edge(folder="edge2")  # a new edge, empty store, same cloud
    assert not second.store_dir().joinpath("index.json").exists()
    response = patch(second, "a.docx", diff(base, new))
    assert response.status_code == 200, response.text
    assert response.json()["upload"]["state"] == "uploaded"
    assert (second.cloud / "a.docx").read_bytes() == new


def test_cold_start_with_another_version_in_the_cloud_is_409(make_edge, docx):
    base, new, newer = docx
    edge = make_edge()
    (edge.cloud / "a.docx").write_bytes(new)
    before = snapshot(edge.cloud, edge.store_dir())
    response = patch(edge, "a.docx", diff(base, newer))
    assert response.status_code == 409 and response.json()["current"] is None
    assert snapshot(edge.cloud, edge.store_dir()) == before
    missing = patch(edge, "b.docx", diff(base, newer))
    assert missing.status_code == 409 and "neither has the cloud" in missing.json()["message"]


def test_download_bootstraps_from_the_cloud(edge):
    (edge.cloud / "old.txt").write_bytes(b"from before")
    response = edge.session().get(edge.file_url("old.txt"))
    assert response.status_code == 200 and response.content == b"from before"
    delta = diff(b"from before", b"from before and after")
    assert patch(edge, "old.txt", delta).status_code == 200
    assert (edge.cloud / "old.txt").read_bytes() == b"from before and after"


# --- provider failures ---------------------------------------------------------------------


def test_transient_failures_are_retried(edge):
    edge.faults().fail_next("put", ServiceUnavailableError("reset"), times=2)
    response = put(edge, "a.txt", b"data")
    assert response.status_code == 200 and response.json()["upload"]["state"] == "uploaded"
    assert [call for call in edge.faults().calls if call[0] == "put"] == [("put", "a.txt")] * 3


def test_rate_limit_then_success(edge):
    edge.faults().fail_next("put", RateLimitedError("slow down", retry_after=0.05))
    response = put(edge, "a.txt", b"data")
    assert response.json()["upload"]["state"] == "uploaded"


def test_a_lost_response_does_not_make_a_conflict(edge):
    edge.faults().fail_after("put", ServiceUnavailableError("response lost"))
    response = put(edge, "a.txt", b"data")
    assert response.json()["upload"]["state"] == "uploaded"
    assert sorted(p.name for p in edge.cloud.iterdir() if not p.name.startswith(".")) == [
        "a.txt"]


def test_cloud_down_the_version_is_kept_and_uploaded_later(edge, docx):
    base, new, _ = docx
    put(edge, "a.docx", base)
    faults = edge.faults()
    faults.fail_next("put", ServiceUnavailableError("down"), times=5)
    response = patch(edge, "a.docx", diff(base, new))
    assert response.status_code == 202
    assert response.json()["upload"]["state"] == "pending"
    assert response.json()["upload"]["error"]["code"] == "service_unavailable"
    # The edge already holds the new version: the next delta builds on it.
    meta = eventually(lambda: (m := edge.session().get(f"{edge.url}/v1/meta/a.docx").json())
                    ["upload"]["state"] == "uploaded" and m)
    assert meta["sha256"] == sha(new)
    assert (edge.cloud / "a.docx").read_bytes() == new


def test_a_fatal_provider_error_is_reported_and_the_version_kept(edge):
    edge.faults().fail_next("put", AuthError("the refresh token was revoked"), times=1)
    response = put(edge, "a.txt", b"data")
    assert response.status_code == 202
    upload = response.json()["upload"]
    assert upload["state"] == "failed" and upload["error"]["code"] == "auth_error"
    assert edge.session().get(edge.file_url("a.txt")).content == b"data"
    # Retried in the background (the operator may have fixed the credentials).
    eventually(lambda: (edge.cloud / "a.txt").exists())


# --- limits and bad input: the error, and nothing written -------------------------------------


BAD_PATHS = {
    "dot-dot": "a/../b.txt",
    "dot": "a/./b.txt",
    "absolute": "/etc/passwd",
    "empty component": "a//b.txt",
    "nul": "a%00b.txt",
    "control": "a%01b.txt",
    "backslash": "a%5Cb.txt",
    "device name": "aux.txt",
    "trailing dot": "name.",
    "long name": "x" * 256 + ".txt",
    "drive": "C:/x.txt",
}


def raw_request(edge, method: str, path: str, body: bytes, token: str) -> tuple[int, dict]:
    """Send the path exactly as given (requests would resolve ".." before sending)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host, port = edge.server.address
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=10)
    connection.request(method, f"/v1/files/{path}", body=body,
                       headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    data = json.loads(response.read())
    connection.close()
    return response.status, data


@pytest.mark.parametrize("raw", list(BAD_PATHS.values()), ids=list(BAD_PATHS))
def test_bad_paths_are_refused_before_anything_is_written(edge, raw):
    before = snapshot(edge.cloud, edge.store_dir())
    status, body = raw_request(edge, "PUT", raw, b"data", edge.tokens["me"])
    assert status == 400, body
    assert body["code"] == "invalid_path" and body["message"]
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_body_size_limit(make_edge):
    edge = make_edge(max_file_size=1000)
    before = snapshot(edge.cloud, edge.store_dir())
    response = put(edge, "big.bin", b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["code"] == "limit_exceeded"
    assert response.json()["limit"] == "max_file_size"
    assert snapshot(edge.cloud, edge.store_dir()) == before
    assert put(edge, "ok.bin", b"x" * 1000).status_code == 200


def test_body_without_length_is_limited_too(make_edge):
    edge = make_edge(max_file_size=1000)
    before = snapshot(edge.cloud, edge.store_dir())

    def chunks():
        for _ in range(20):
            yield b"x" * 100

    try:
        response = edge.session().put(edge.file_url("big.bin"), data=chunks())
    except requests.exceptions.ConnectionError:
        pass  # the edge answered 413 and closed while the client was still sending
    else:
        assert response.status_code == 413
    assert snapshot(edge.cloud, edge.store_dir()) == before
    assert edge.session().put(edge.file_url("small.bin"), data=b"x").status_code == 200


def test_delta_size_limit(make_edge):
    edge = make_edge(max_delta_size=100)
    put(edge, "a.txt", b"base")
    before = snapshot(edge.cloud, edge.store_dir())
    response = patch(edge, "a.txt", diff(b"base", make_text(lines=50, seed=1)))
    assert response.status_code == 413 and response.json()["limit"] == "max_delta_size"
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_delta_expansion_is_limited(make_edge):
    edge = make_edge(max_file_size=1 << 20)
    put(edge, "a.txt", b"base")
    bomb = diff(b"base", b"\0" * (8 << 20))  # deflates to a few KiB
    assert len(bomb) < 64 << 10
    before = snapshot(edge.cloud, edge.store_dir())
    response = patch(edge, "a.txt", bomb)
    assert response.status_code == 413 and response.json()["code"] == "limit_exceeded"
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_corrupt_and_foreign_deltas(edge, docx):
    base, new, _ = docx
    put(edge, "a.docx", base)
    before = snapshot(edge.cloud, edge.store_dir())
    delta = bytearray(diff(base, new))
    delta[40] ^= 0xFF  # inside the result hash: the rebuilt file will not match it
    response = patch(edge, "a.docx", bytes(delta))
    assert response.status_code == 422 and response.json()["code"] == "corrupt_delta"
    truncated = patch(edge, "a.docx", diff(base, new)[:-7])
    assert truncated.status_code in (400, 422)
    assert truncated.json()["code"] in ("corrupt_delta", "unsupported_delta_format")
    garbage = patch(edge, "a.docx", b"PK\x03\x04 not a delta")
    assert garbage.status_code == 400
    assert garbage.json()["code"] == "unsupported_delta_format"
    wrong_type = edge.session().patch(edge.file_url("a.docx"), data=diff(base, new),
                                      headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "wire_format_error"
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_unknown_endpoints_and_methods(edge):
    session = edge.session()
    missing = session.get(f"{edge.url}/v2/files/a.txt")
    assert missing.status_code == 404 and missing.json()["code"] == "no_such_endpoint"
    wrong = session.post(edge.file_url("a.txt"), data=b"x")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


# --- tokens and users -------------------------------------------------------------------------


def test_requests_without_a_valid_token_are_refused(edge):
    before = snapshot(edge.cloud, edge.store_dir())
    from edgesync.tls import pinned_session

    anonymous = pinned_session(edge.server.fingerprint)
    response = anonymous.put(edge.file_url("a.txt"), data=b"x")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = edge.session(token="esk_" + "A" * 43).put(edge.file_url("a.txt"), data=b"x")
    assert wrong.status_code == 401
    basic = anonymous.get(edge.file_url("a.txt"), auth=("me", edge.tokens["me"]))
    assert basic.status_code == 401
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_a_revoked_token_stops_working_without_a_restart(edge):
    from edgesync.edge import TokenStore

    assert put(edge, "a.txt", b"x").status_code == 200
    store = TokenStore(edge.config.tokens_path)
    (info,) = store.list()
    store.revoke(info.id)
    assert put(edge, "a.txt", b"y").status_code == 401
    token, _ = store.add("me")
    assert edge.session(token=token).put(edge.file_url("a.txt"), data=b"y").status_code == 200


def test_personal_mode_refuses_another_users_token(edge):
    from edgesync.edge import TokenStore

    token, _ = TokenStore(edge.config.tokens_path).add("mallory")
    response = edge.session(token=token).put(edge.file_url("a.txt"), data=b"x")
    assert response.status_code == 401
    assert not (edge.cloud / "a.txt").exists()


def test_multi_user_users_never_see_each_other(make_edge):
    edge = make_edge(mode="multi-user", users=("alice", "bob"))
    assert put(edge, "plan.txt", b"alice's plan", user="alice").status_code == 200
    bob = edge.session("bob")
    assert bob.get(edge.file_url("plan.txt")).status_code == 404
    assert bob.get(f"{edge.url}/v1/files").json() == {"files": []}
    assert put(edge, "plan.txt", b"bob's plan", user="bob").status_code == 200
    assert (edge.cloud / "alice" / "plan.txt").read_bytes() == b"alice's plan"
    assert (edge.cloud / "bob" / "plan.txt").read_bytes() == b"bob's plan"
    # A delta from bob made against alice's version finds no such base for bob.
    delta = diff(b"alice's plan", b"alice's plan, changed by bob")
    response = patch(edge, "plan.txt", delta, user="bob")
    assert response.status_code == 409
    assert (edge.cloud / "alice" / "plan.txt").read_bytes() == b"alice's plan"
    # Paths cannot climb into another user's folder.
    status, body = raw_request(edge, "PUT", "../alice/plan.txt", b"x", edge.tokens["bob"])
    assert status == 400 and body["code"] == "invalid_path"
    assert (edge.cloud / "alice" / "plan.txt").read_bytes() == b"alice's plan"


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_the_file_at_the_edge_and_in_the_cloud(edge):
    put(edge, "Docs/a.txt", b"x")
    response = edge.session().delete(edge.file_url("Docs/a.txt"))
    assert response.status_code == 200 and response.json() == {"path": "Docs/a.txt",
                                                               "deleted": True}
    assert not (edge.cloud / "Docs" / "a.txt").exists()
    assert edge.session().get(f"{edge.url}/v1/meta/Docs/a.txt").status_code == 404
    assert edge.session().delete(edge.file_url("Docs/a.txt")).status_code == 404


def test_delete_never_removes_a_change_made_elsewhere(edge):
    put(edge, "a.txt", b"mine")
    (edge.cloud / "a.txt").write_bytes(b"theirs, newer")
    response = edge.session().delete(edge.file_url("a.txt"))
    assert response.status_code == 409 and response.json()["code"] == "revision_conflict"
    assert (edge.cloud / "a.txt").read_bytes() == b"theirs, newer"
    assert edge.session().get(f"{edge.url}/v1/meta/a.txt").status_code == 200


def test_delete_with_a_stale_if_match_is_refused(edge):
    put(edge, "a.txt", b"two")
    response = edge.session().delete(edge.file_url("a.txt"),
                                     headers={"If-Match": f'"{sha(b"one")}"'})
    assert response.status_code == 409
    assert (edge.cloud / "a.txt").read_bytes() == b"two"


# --- TLS ---------------------------------------------------------------------------------------


def test_https_with_a_pinned_certificate(edge):
    from edgesync.tls import pinned_session

    wrong = pinned_session("00" * 32)
    with pytest.raises(requests.exceptions.SSLError):
        wrong.get(f"{edge.url}/v1/health")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{edge.url}/v1/health", timeout=5)  # not a CA-signed certificate
    assert pinned_session(edge.server.fingerprint).get(f"{edge.url}/v1/health").ok


def test_plain_http_on_loopback_when_asked(make_edge):
    edge = make_edge(tls=False)
    assert edge.url.startswith("http://")
    assert requests.get(f"{edge.url}/v1/health", timeout=5).json() == {"status": "ok"}


# --- the access log ------------------------------------------------------------------------------


def test_one_json_log_line_per_request_without_tokens(make_edge, capfd, docx):
    base, new, _ = docx
    edge = make_edge()
    put(edge, "a.docx", base)
    patch(edge, "a.docx", diff(base, new))
    put(edge, "a%01b", b"x")
    edge.server.stop()
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [line["method"] for line in lines] == ["PUT", "PATCH", "PUT"]
    full, delta, bad = lines
    assert full["user"] == "me" and full["path"] == "a.docx" and full["status"] == 200
    assert full["bytes_in"] == len(base) and full["bytes_uploaded"] == len(base)
    assert delta["bytes_in"] == len(diff(base, new)) and delta["state"] == "uploaded"
    assert {"ms", "apply_ms", "upload_ms", "outcome"} <= set(delta)
    assert bad["outcome"] == "invalid_path" and bad["status"] == 400
    assert edge.tokens["me"] not in err and "esk_" not in err


def test_a_refused_body_does_not_break_the_connection(edge):
    session = edge.session(token="esk_" + "B" * 43)  # unknown: refused before the body is read
    for _ in range(3):
        response = session.put(edge.file_url("a.txt"), data=b"z" * (3 << 20))
        assert response.status_code == 401
    edge_session = edge.session()
    big = edge_session.put(edge.file_url("a%01.txt"), data=b"z" * (2 << 20))
    assert big.status_code == 400
    assert edge_session.put(edge.file_url("a.txt"), data=b"fine").status_code == 200


def test_bodies_far_over_the_limit_are_refused_by_the_server(make_edge):
    edge = make_edge(max_file_size=1000, max_delta_size=1000)
    before = snapshot(edge.cloud, edge.store_dir())
    try:
        response = edge.session().put(edge.file_url("big.bin"), data=b"x" * (4 << 20))
    except requests.exceptions.ConnectionError:
        pass  # the server answered 413 and closed while the client was still sending
    else:
        assert response.status_code == 413
    assert snapshot(edge.cloud, edge.store_dir()) == before
    assert edge.session().put(edge.file_url("small.bin"), data=b"x").status_code == 200


def test_a_conflict_ends_when_the_device_merges_the_other_version(edge):
    put(edge, "a.txt", b"mine v1")
    theirs = b"theirs, saved on another device"
    (edge.cloud / "a.txt").write_bytes(theirs)
    conflicted = put(edge, "a.txt", b"mine v2").json()["upload"]
    assert conflicted["state"] == "conflict"
    # The device merges their version into its own and says what it merged.
    merged = put(edge, "a.txt", b"mine v2 + theirs", **{"X-Edgesync-Base": sha(theirs)})
    upload = merged.json()["upload"]
    assert upload["state"] == "uploaded" and upload["conflict_path"] is None
    assert (edge.cloud / "a.txt").read_bytes() == b"mine v2 + theirs"
    assert (edge.cloud / conflicted["conflict_path"]).read_bytes() == b"mine v2"


def test_a_conflict_ends_when_the_other_version_is_deleted(edge):
    put(edge, "a.txt", b"mine v1")
    (edge.cloud / "a.txt").write_bytes(b"theirs")
    assert put(edge, "a.txt", b"mine v2").json()["upload"]["state"] == "conflict"
    (edge.cloud / "a.txt").unlink()
    again = put(edge, "a.txt", b"mine v3").json()["upload"]
    assert again["state"] == "uploaded"
    assert (edge.cloud / "a.txt").read_bytes() == b"mine v3"


def test_a_gzip_compressed_full_upload(make_edge):
    import gzip

    edge = make_edge(max_file_size=100_000)
    text = make_text(lines=600, seed=4)
    assert len(text) <= 100_000
    packed = gzip.compress(text)
    response = put(edge, "notes.txt", packed, **{"Content-Encoding": "gzip",
                                                 "X-Edgesync-Sha256": sha(text)})
    assert response.status_code == 200, response.text
    assert response.json()["received"] == len(packed) < len(text) // 2
    assert (edge.cloud / "notes.txt").read_bytes() == text
    before = snapshot(edge.cloud, edge.store_dir())
    bomb = gzip.compress(b"\0" * 200_000)  # decodes past the file-size limit
    assert put(edge, "bomb.txt", bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    broken = put(edge, "broken.txt", packed[:-20], **{"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and broken.json()["code"] == "wire_format_error"
    other = put(edge, "x.txt", packed, **{"Content-Encoding": "br"})
    assert other.status_code == 400 and "not supported" in other.json()["message"]
    assert snapshot(edge.cloud, edge.store_dir()) == before


def test_a_save_that_did_not_start_from_the_edges_version_becomes_a_conflict_copy(edge):
    put(edge, "a.txt", b"v1")
    put(edge, "a.txt", b"v2 from the laptop", **{"X-Edgesync-Base": sha(b"v1")})
    # The phone edited v1 too and sends its whole file after its delta got 409.
    phone = put(edge, "a.txt", b"v2 from the phone", **{"X-Edgesync-Base": sha(b"v1")})
    assert phone.status_code == 200
    body = phone.json()
    assert body["upload"]["state"] == "conflict" and body["sha256"] == sha(b"v2 from the phone")
    copy = body["upload"]["conflict_path"]
    assert (edge.cloud / "a.txt").read_bytes() == b"v2 from the laptop"
    assert (edge.cloud / copy).read_bytes() == b"v2 from the phone"
    meta = edge.session().get(f"{edge.url}/v1/meta/a.txt").json()
    assert meta["sha256"] == sha(b"v2 from the laptop")  # the edge's version stays
    # A device with no version of the file: the same content is no conflict...
    same = put(edge, "a.txt", b"v2 from the laptop", **{"X-Edgesync-Base": "none"})
    assert same.json()["upload"]["state"] == "uploaded"
    # ... other content is, and a second copy in the same second gets its own name.
    for _ in range(2):
        other = put(edge, "a.txt", b"a new device's own a.txt", **{"X-Edgesync-Base": "none"})
        assert other.json()["upload"]["state"] == "conflict"
    copies = sorted(p.name for p in edge.cloud.glob("a (edgesync conflict *).txt"))
    assert len(copies) == 3
    assert (edge.cloud / "a.txt").read_bytes() == b"v2 from the laptop"
