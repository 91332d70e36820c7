"""The OneDrive emulator, driven by real MSAL and by plain requests through its loopback session.

Each test states one behaviour of Entra ID or Microsoft Graph the emulator
reproduces (or a fault it injects) and checks it the way a client meets it:
through MSAL's results, HTTP statuses and bodies, plus the emulator's journal
and store.
"""

from __future__ import annotations

import base64
import doctest
import json
import os
import signal
import subprocess
import sys

import msal
import msal.exceptions
import pytest
import requests
from edgesync_onedrive import testing
from edgesync_onedrive.testing import (
    FRAGMENT_ALIGN,
    LoopbackAdapter,
    OneDriveEmulator,
    delay,
    device_expired,
    etag_changed,
    expired_token,
    invalid_grant,
    loopback_session,
    partial_accept,
    process_then,
    process_then_reset,
    quick_xor_hash,
    quota_full,
    reset,
    respond,
    rps_error,
    server_error,
    session_gone,
    slow_down,
    throttled,
    truncate_body,
)

DRIVE = "https://graph.microsoft.com/v1.0/me/drive"
LOGIN = "https://login.microsoftonline.com"
SCOPES = ["Files.ReadWrite"]
KiB = 1024
MiB = 1024 * KiB


def routes(emulator: OneDriveEmulator) -> list[tuple[str, int | None]]:
    return [(record.route, record.status) for record in emulator.journal]


def error_of(response: requests.Response) -> tuple[int, str, str | None]:
    """(status, error.code, innerError.code) of a Graph error answer."""
    error = response.json()["error"]
    return response.status_code, error["code"], error["innerError"].get("code")


@pytest.fixture
def graph(emulator: OneDriveEmulator) -> requests.Session:
    """A Graph session with a valid bearer token (the Authorization is a session header)."""
    session = emulator.session()
    session.headers["Authorization"] = f"Bearer {emulator.issue_access_token()}"
    return session


@pytest.fixture
def bare(emulator: OneDriveEmulator) -> requests.Session:
    """A session without Authorization, for upload and download URLs."""
    return emulator.session()


def sign_in(app: msal.PublicClientApplication) -> dict:
    flow = app.initiate_device_flow(scopes=SCOPES)
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    return result


def start_session(graph: requests.Session, path: str, **item) -> requests.Response:
    return graph.post(f"{DRIVE}/root:{path}:/createUploadSession", json={"item": item})


def put_fragment(session: requests.Session, url: str, data: bytes, start: int, total: int,
                 **headers: str) -> requests.Response:
    headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{total}"
    return session.put(url, data=data, headers=headers)


def slow_quick_xor_hash(data: bytes) -> str:
    """The algorithm byte by byte, as the spec states it."""
    state = 0
    for index, byte in enumerate(data):
        placed = byte << (11 * index) % 160
        state ^= (placed & ((1 << 160) - 1)) ^ (placed >> 160)
    out = bytearray(state.to_bytes(20, "little"))
    for offset, byte in enumerate(len(data).to_bytes(8, "little")):
        out[12 + offset] ^= byte
    return base64.b64encode(bytes(out)).decode()


# --- wire basics ------------------------------------------------------------------------------

def test_quick_xor_hash_vectors() -> None:
    assert quick_xor_hash(b"hello world") == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    assert quick_xor_hash(b"") == "AAAAAAAAAAAAAAAAAAAAAAAAAAA="


@pytest.mark.parametrize("size", [1, 159, 160, 161, 3 * 160 + 7, 5000])
def test_quick_xor_hash_folding_matches_the_plain_algorithm(size: int) -> None:
    data = os.urandom(size)
    assert quick_xor_hash(data) == slow_quick_xor_hash(data)
    assert quick_xor_hash(bytearray(data)) == quick_xor_hash(memoryview(data))


def test_quick_xor_hash_across_its_internal_chunks() -> None:
    # 10 MiB chunks are folded separately; a pattern whose 160-byte blocks cancel out
    # pairwise must still give the hash of the tail alone plus the length.
    block = os.urandom(160)
    data = block * (2 * 65536 + 2) + b"tail"
    expected = bytearray(base64.b64decode(slow_quick_xor_hash(bytes(len(block) * 2) + b"tail")))
    got = bytearray(base64.b64decode(quick_xor_hash(data)))
    # Same state; only the length differs.
    for offset, (a, b) in enumerate(zip((324).to_bytes(8, "little"),
                                        len(data).to_bytes(8, "little"), strict=True)):
        expected[12 + offset] ^= a ^ b
    assert got == expected


def test_the_module_example_runs() -> None:
    result = doctest.testmod(testing, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- sign-in with real MSAL -------------------------------------------------------------------

def test_device_flow_end_to_end(msal_app: msal.PublicClientApplication,
                                emulator: OneDriveEmulator, graph: requests.Session) -> None:
    flow = msal_app.initiate_device_flow(scopes=SCOPES)
    assert flow["interval"] == 1 and flow["expires_in"] == 900
    assert flow["verification_uri"] == "https://www.microsoft.com/link"
    assert flow["user_code"] in flow["message"] and len(flow["user_code"]) == 9

    result = msal_app.acquire_token_by_device_flow(flow)

    assert result["token_type"] == "Bearer" and result["token_source"] == "identity_provider"
    assert result["scope"] == "Files.ReadWrite openid profile"
    assert result["expires_in"] == 3600 and result["refresh_token"]
    claims = result["id_token_claims"]
    assert claims["aud"] == emulator.client_id and claims["tid"] == testing.MSA_TENANT
    assert claims["preferred_username"] == emulator.username
    (account,) = msal_app.get_accounts()
    assert account["username"] == emulator.username
    assert account["home_account_id"] == f"{emulator.user_id}.{testing.MSA_TENANT}"
    assert routes(emulator)[:3] == [("openidConfiguration", 200), ("devicecode", 200),
                                    ("token", 200)]
    token_request = emulator.journal[2]
    assert token_request.form is not None
    assert token_request.form["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    # The token works on Graph.
    drive = graph.get(DRIVE, headers={"Authorization": f"Bearer {result['access_token']}"})
    assert drive.status_code == 200 and drive.json()["driveType"] == "personal"


def test_silent_refresh_rotates_the_refresh_token(msal_app: msal.PublicClientApplication,
                                                  emulator: OneDriveEmulator) -> None:
    first = sign_in(msal_app)
    (account,) = msal_app.get_accounts()
    cached = msal_app.acquire_token_silent(SCOPES, account)
    assert cached["token_source"] == "cache" and cached["access_token"] == first["access_token"]

    refreshed = msal_app.acquire_token_silent(SCOPES, account, force_refresh=True)

    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    stored = list(msal_app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert [rt["secret"] for rt in stored] == [refreshed["refresh_token"]]
    # The used refresh token no longer works.
    with emulator.session() as session:
        reused = session.post(f"{LOGIN}/consumers/oauth2/v2.0/token", data={
            "client_id": emulator.client_id, "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"], "scope": "Files.ReadWrite offline_access"})
    assert reused.status_code == 400
    assert (reused.json()["error"], reused.json()["error_codes"]) == ("invalid_grant", [700082])
    # Both access tokens work until they expire.
    with emulator.session() as session:
        for token in (first["access_token"], refreshed["access_token"]):
            assert session.get(DRIVE, headers={"Authorization": f"Bearer {token}"}).ok


def test_a_revoked_refresh_token_is_invalid_grant(msal_app: msal.PublicClientApplication,
                                                  emulator: OneDriveEmulator) -> None:
    sign_in(msal_app)
    (account,) = msal_app.get_accounts()
    emulator.revoke_refresh_tokens()

    result = msal_app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)

    assert result["error"] == "invalid_grant" and result["suberror"] == "bad_token"
    assert result["error_codes"] == [700082]
    assert result["error_description"].startswith("AADSTS700082:")
    assert msal_app.acquire_token_silent(SCOPES, account, force_refresh=True) is None
    # After a failed redemption MSAL 1.39 looks for the account under aliases:
    # instance discovery, which the emulator serves.
    discovery = [status for route, status in routes(emulator) if route == "instanceDiscovery"]
    assert set(discovery) <= {200}


def test_an_injected_invalid_grant_and_a_5xx(msal_app: msal.PublicClientApplication,
                                             emulator: OneDriveEmulator) -> None:
    sign_in(msal_app)
    (account,) = msal_app.get_accounts()
    emulator.inject("token", server_error(503, retry_after=0))
    with pytest.raises(msal.exceptions.MsalServiceError):
        msal_app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)
    emulator.inject("token", invalid_grant())
    result = msal_app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)
    assert result["error"] == "invalid_grant"
    assert [r.fault for r in emulator.journal if r.route == "token"][-2:] == [
        "ServerError(status=503, retry_after=0)", "invalid_grant()"]


def test_pending_until_approved_then_declined(msal_app: msal.PublicClientApplication,
                                              emulator: OneDriveEmulator) -> None:
    emulator.auto_approve = False
    flow = msal_app.initiate_device_flow(scopes=SCOPES)
    once = {"exit_condition": lambda flow: True}  # poll once, never sleep

    pending = msal_app.acquire_token_by_device_flow(flow, **once)
    assert pending["error"] == "authorization_pending"
    emulator.approve_device_code(flow["user_code"])
    assert "access_token" in msal_app.acquire_token_by_device_flow(flow, **once)
    # A device code is redeemed once.
    again = msal_app.acquire_token_by_device_flow(flow, **once)
    assert again["error"] == "invalid_grant"

    declined_flow = msal_app.initiate_device_flow(scopes=SCOPES)
    emulator.decline_device_code()
    declined = msal_app.acquire_token_by_device_flow(declined_flow, **once)
    assert declined["error"] == "authorization_declined"
    with pytest.raises(KeyError):
        emulator.approve_device_code("NOSUCHCODE")


def test_slow_down_then_expired(msal_app: msal.PublicClientApplication,
                                emulator: OneDriveEmulator) -> None:
    flow = msal_app.initiate_device_flow(scopes=SCOPES)
    emulator.inject("token", slow_down())
    result = msal_app.acquire_token_by_device_flow(flow, exit_condition=lambda flow: True)
    assert result["error"] == "slow_down" and flow["interval"] == 6  # MSAL added 5 s
    flow["latest_attempt_at"] = 0  # we did wait, as far as MSAL knows
    emulator.inject("token", device_expired())
    result = msal_app.acquire_token_by_device_flow(flow)
    assert result["error"] == "expired_token" and result["error_codes"] == [70020]


def test_a_device_code_really_expires(msal_app: msal.PublicClientApplication,
                                      emulator: OneDriveEmulator) -> None:
    emulator.device_code_ttl = 0
    flow = msal_app.initiate_device_flow(scopes=SCOPES)
    assert msal_app.acquire_token_by_device_flow(flow)["error"] == "expired_token"


def test_sign_in_endpoints_by_hand(emulator: OneDriveEmulator, bare: requests.Session) -> None:
    config = bare.get(f"{LOGIN}/organizations/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{LOGIN}/organizations/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"] == \
        f"{LOGIN}/organizations/oauth2/v2.0/devicecode"
    assert config["issuer"] == f"{LOGIN}/{{tenantid}}/v2.0"
    consumers = bare.get(f"{LOGIN}/consumers/v2.0/.well-known/openid-configuration").json()
    assert consumers["issuer"] == f"{LOGIN}/{testing.MSA_TENANT}/v2.0"
    discovery = bare.get(f"{LOGIN}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": f"{LOGIN}/common/oauth2/authorize"})
    assert discovery.json()["metadata"][0]["aliases"][0] == "login.microsoftonline.com"
    unknown = bare.get(f"{LOGIN}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": "https://evil.example/x/oauth2/authorize"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_instance"
    wrong_client = bare.post(f"{LOGIN}/consumers/oauth2/v2.0/devicecode",
                             data={"client_id": "someone-else", "scope": "Files.Read"})
    assert wrong_client.json()["error"] == "unauthorized_client"
    grant = bare.post(f"{LOGIN}/consumers/oauth2/v2.0/token",
                      data={"client_id": emulator.client_id, "grant_type": "password"})
    assert grant.json()["error"] == "unsupported_grant_type"
    for response in (discovery, grant):
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.headers["x-ms-request-id"] == response.headers["request-id"]


# --- Graph: authorization, items, simple upload -----------------------------------------------

def test_graph_needs_a_valid_bearer(emulator: OneDriveEmulator, bare: requests.Session) -> None:
    token = emulator.issue_access_token()
    missing = bare.get(DRIVE, headers={"client-request-id": "mine-123"})
    unknown = bare.get(DRIVE, headers={"Authorization": "Bearer nonsense"})
    assert bare.get(DRIVE, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    emulator.expire_access_tokens()
    expired = bare.get(DRIVE, headers={"Authorization": f"Bearer {token}"})

    for response in (missing, unknown, expired):
        assert error_of(response)[:2] == (401, "InvalidAuthenticationToken")
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="", ')
        assert 'client_id="00000003-0000-0000-c000-000000000000"' in \
            response.headers["WWW-Authenticate"]
    assert 'error="expired_token"' in expired.headers["WWW-Authenticate"]
    assert 'error="expired_token"' not in unknown.headers["WWW-Authenticate"]
    assert expired.json()["error"]["message"] == "Access token has expired or is not yet valid."
    inner = missing.json()["error"]["innerError"]
    assert missing.headers["client-request-id"] == inner["client-request-id"] == "mine-123"
    assert missing.headers["request-id"] == inner["request-id"] and inner["date"]


def test_a_short_token_lifetime_expires_by_itself(emulator: OneDriveEmulator,
                                                  bare: requests.Session) -> None:
    emulator.access_token_ttl = 0
    token = emulator.issue_access_token()
    response = bare.get(DRIVE, headers={"Authorization": f"Bearer {token}"})
    assert error_of(response)[0] == 401


def test_simple_upload_then_replace(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    created = graph.put(f"{DRIVE}/root:/Docs/Notes.txt:/content", data=b"hello world")
    replaced = graph.put(f"{DRIVE}/root:/docs/NOTES.TXT:/content", data=b"hello again")

    assert (created.status_code, replaced.status_code) == (201, 200)
    first, second = created.json(), replaced.json()
    assert created.headers["Content-Type"].startswith("application/json")
    assert first["id"] == second["id"] and second["name"] == "Notes.txt"
    assert first["eTag"] != second["eTag"] and first["cTag"] != second["cTag"]
    assert second["size"] == 11 and "folder" not in second
    assert second["file"] == {"mimeType": "text/plain",
                              "hashes": {"quickXorHash": quick_xor_hash(b"hello again")}}
    assert first["file"]["hashes"]["quickXorHash"] == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    folder = graph.get(f"{DRIVE}/root:/DOCS").json()
    assert second["parentReference"] == {
        "driveId": emulator.drive_id, "driveType": "personal", "id": folder["id"],
        "name": "Docs", "path": "/drive/root:/Docs"}
    assert folder["folder"] == {"childCount": 1} and "file" not in folder
    assert folder["parentReference"]["path"] == "/drive/root:"
    assert "cTag" not in folder and folder["size"] == 11
    by_id = graph.get(f"{DRIVE}/items/{second['id']}").json()
    assert by_id["eTag"] == second["eTag"] and by_id["@microsoft.graph.downloadUrl"] \
        .startswith("https://dl.onedrive.test/dl/")
    assert emulator.file("/DOCS/notes.txt") == b"hello again"
    root = graph.get(f"{DRIVE}/root").json()
    assert root["root"] == {} and root["folder"] == {"childCount": 1}


def test_item_not_found(graph: requests.Session) -> None:
    for url in (f"{DRIVE}/root:/nothing.txt", f"{DRIVE}/items/NOPE!1",
                f"{DRIVE}/root:/nothing.txt:/content"):
        response = graph.get(url)
        assert error_of(response)[:2] == (404, "itemNotFound")
        assert response.json()["error"]["innerError"]["request-id"] == \
            response.headers["request-id"]


def test_the_other_simple_upload_addresses(emulator: OneDriveEmulator,
                                           graph: requests.Session) -> None:
    folder_id = emulator.put_file("/Team/seed.txt", b"")["parentReference"]["id"]
    created = graph.put(f"{DRIVE}/items/{folder_id}:/Plan.md:/content", data=b"v1")
    assert created.status_code == 201
    assert created.json()["parentReference"]["path"] == "/drive/root:/Team"
    item_id = created.json()["id"]
    replaced = graph.put(f"{DRIVE}/items/{item_id}/content", data=b"v2")
    assert replaced.status_code == 200 and replaced.json()["id"] == item_id
    assert emulator.file("/team/plan.md") == b"v2"
    assert error_of(graph.put(f"{DRIVE}/items/NOPE!9/content", data=b"x"))[0] == 404
    children = graph.get(f"{DRIVE}/items/{folder_id}/children").json()["value"]
    assert sorted(child["name"] for child in children) == ["Plan.md", "seed.txt"]
    listed = graph.get(f"{DRIVE}/root/children").json()["value"]
    assert [child["name"] for child in listed] == ["Team"]


def test_if_match_and_if_none_match(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    url = f"{DRIVE}/root:/report.docx:/content"
    absent = graph.put(url, data=b"v0", headers={"If-Match": "aStale"})
    assert error_of(absent)[:2] == (412, "resourceModified")
    mine = graph.put(url, data=b"v1", headers={"If-None-Match": "*"}).json()
    theirs = emulator.put_file("/Report.docx", b"v2 from another device")

    stale = graph.put(url, data=b"v1 edited", headers={"If-Match": mine["eTag"]})
    exists = graph.put(url, data=b"v1 edited", headers={"If-None-Match": "*"})

    assert error_of(stale)[:2] == error_of(exists)[:2] == (412, "resourceModified")
    assert emulator.file("/report.docx") == b"v2 from another device"
    current = graph.put(url, data=b"v3", headers={"If-Match": f'"{theirs["eTag"]}"'})
    assert current.status_code == 200 and current.json()["id"] == mine["id"]


def test_conflict_behavior(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    url = f"{DRIVE}/root:/d/a.txt:/content"
    assert graph.put(url, data=b"one").status_code == 201
    refused = graph.put(url, params={"@microsoft.graph.conflictBehavior": "fail"}, data=b"two")
    renamed = graph.put(url, params={"@microsoft.graph.conflictBehavior": "rename"}, data=b"3")
    bogus = graph.put(url, params={"@microsoft.graph.conflictBehavior": "merge"}, data=b"4")

    assert error_of(refused)[:2] == (409, "nameAlreadyExists")
    assert renamed.status_code == 201 and renamed.json()["name"] == "a 1.txt"
    assert error_of(bogus)[:2] == (400, "invalidRequest")
    assert emulator.files() == {"/d/a.txt": b"one", "/d/a 1.txt": b"3"}
    assert error_of(graph.put(f"{DRIVE}/root:/d:/content", data=b"x"))[:2] == \
        (409, "nameAlreadyExists")  # a folder is in the way
    assert error_of(graph.put(f"{DRIVE}/root:/d/a.txt/b.txt:/content", data=b"x"))[0] == 409
    assert error_of(graph.put(f"{DRIVE}/root:/bad%3F.txt:/content", data=b"x"))[0] == 400


def test_simple_upload_size_limit(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    assert emulator.simple_upload_limit == 250 * MiB
    emulator.simple_upload_limit = 10
    response = graph.put(f"{DRIVE}/root:/big.bin:/content", data=bytes(11))
    assert error_of(response) == (413, "invalidRequest", "maxFileSizeExceeded")
    assert graph.put(f"{DRIVE}/root:/small.bin:/content", data=bytes(10)).status_code == 201


def test_the_drive_and_its_quota(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    emulator.put_file("/x.bin", bytes(95))
    emulator.set_quota(100)
    drive = graph.get(DRIVE).json()
    assert drive["id"] == emulator.drive_id
    assert drive["quota"] == {"deleted": 0, "remaining": 5, "state": "nearing", "total": 100,
                              "used": 95}
    full = graph.put(f"{DRIVE}/root:/y.bin:/content", data=bytes(6))
    assert error_of(full)[:2] == (507, "quotaLimitReached")
    assert graph.put(f"{DRIVE}/root:/x.bin:/content", data=bytes(100)).status_code == 200
    by_id = f"https://graph.microsoft.com/v1.0/drives/{emulator.drive_id}"
    assert graph.get(by_id).json()["quota"]["state"] == "exceeded"


def test_delete(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    item = emulator.put_file("/A/b/c.txt", b"c")
    emulator.put_file("/A/d.txt", b"d")
    stale = graph.delete(f"{DRIVE}/items/{item['id']}", headers={"If-Match": "aOld"})
    assert error_of(stale)[:2] == (412, "resourceModified")
    assert graph.delete(f"{DRIVE}/items/{item['id']}",
                        headers={"If-Match": item["eTag"]}).status_code == 204
    assert error_of(graph.delete(f"{DRIVE}/items/{item['id']}"))[0] == 404
    assert graph.delete(f"{DRIVE}/root:/a").status_code == 204  # a folder with its contents
    assert emulator.files() == {} and emulator.item("/a") is None
    assert error_of(graph.delete(f"{DRIVE}/root"))[0] == 403


# --- downloads --------------------------------------------------------------------------------

def test_download_redirect_does_not_forward_authorization(emulator: OneDriveEmulator,
                                                          graph: requests.Session) -> None:
    item = emulator.put_file("/Photos/cat.jpg", b"0123456789")

    response = graph.get(f"{DRIVE}/items/{item['id']}/content")

    assert response.status_code == 200 and response.content == b"0123456789"
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.url.startswith("https://dl.onedrive.test/dl/")
    assert response.history[0].status_code == 302
    assert response.history[0].url == f"{DRIVE}/items/{item['id']}/content"
    redirect, download = emulator.journal
    assert (redirect.route, download.route) == ("getContent", "download")
    assert "authorization" in redirect.headers and "authorization" not in download.headers
    assert download.host == "dl.onedrive.test" and "Host" not in response.request.headers
    ranged = graph.get(f"{DRIVE}/root:/photos/cat.jpg:/content", headers={"Range": "bytes=2-4"})
    assert ranged.status_code == 206 and ranged.content == b"234"
    assert ranged.headers["Content-Range"] == "bytes 2-4/10"
    unsatisfiable = graph.get(f"{DRIVE}/root:/photos/cat.jpg:/content",
                              headers={"Range": "bytes=20-"})
    assert unsatisfiable.status_code == 416


def test_the_download_host_refuses_authorization(emulator: OneDriveEmulator,
                                                 bare: requests.Session) -> None:
    url = emulator.put_file("/a.txt", b"abc")["@microsoft.graph.downloadUrl"]
    refused = bare.get(url, headers={"Authorization": "Bearer whatever"})
    assert error_of(refused)[:2] == (401, "unauthenticated")
    assert bare.get(url).content == b"abc"
    emulator.strict = False
    assert bare.get(url, headers={"Authorization": "Bearer whatever"}).content == b"abc"
    emulator.delete_file("/a.txt")
    assert error_of(bare.get(url))[0] == 404


def test_a_truncated_download(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    emulator.put_file("/a.bin", bytes(1000))
    emulator.inject("download", truncate_body(10))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        graph.get(f"{DRIVE}/root:/a.bin:/content")
    assert len(graph.get(f"{DRIVE}/root:/a.bin:/content").content) == 1000


# --- upload sessions --------------------------------------------------------------------------

def test_upload_session_in_fragments(emulator: OneDriveEmulator, graph: requests.Session,
                                     bare: requests.Session) -> None:
    data = os.urandom(2 * FRAGMENT_ALIGN + 100)
    created = start_session(graph, "/Big/file.bin", fileSize=len(data))
    assert created.status_code == 200
    session = created.json()
    url = session["uploadUrl"]
    assert url.startswith("https://upload.onedrive.test/up/")
    assert session["nextExpectedRanges"] == ["0-"] and session["expirationDateTime"]

    first = put_fragment(bare, url, data[:FRAGMENT_ALIGN], 0, len(data))
    second = put_fragment(bare, url, data[FRAGMENT_ALIGN:2 * FRAGMENT_ALIGN], FRAGMENT_ALIGN,
                          len(data))
    last = put_fragment(bare, url, data[2 * FRAGMENT_ALIGN:], 2 * FRAGMENT_ALIGN, len(data))

    assert (first.status_code, second.status_code, last.status_code) == (202, 202, 201)
    assert first.json()["nextExpectedRanges"] == [f"{FRAGMENT_ALIGN}-"]
    assert second.json()["nextExpectedRanges"] == [f"{2 * FRAGMENT_ALIGN}-"]
    item = last.json()
    assert item["size"] == len(data) and item["name"] == "file.bin"
    assert item["file"]["hashes"]["quickXorHash"] == quick_xor_hash(data)
    assert emulator.file("/big/file.bin") == data
    fragments = [r for r in emulator.journal if r.route == "fragment"]
    assert [r.host for r in fragments] == ["upload.onedrive.test"] * 3
    assert not any("authorization" in r.headers for r in fragments)
    # The session is gone once committed.
    assert error_of(bare.get(url)) == (404, "itemNotFound", "uploadSessionNotFound")


def test_fragment_rules(emulator: OneDriveEmulator, graph: requests.Session,
                        bare: requests.Session) -> None:
    total = 3 * FRAGMENT_ALIGN
    url = start_session(graph, "/f.bin")
    url = url.json()["uploadUrl"]
    chunk = bytes(FRAGMENT_ALIGN)

    with_auth = put_fragment(bare, url, chunk, 0, total, Authorization="Bearer x")
    length = bare.put(url, data=chunk, headers={"Content-Range": f"bytes 0-9/{total}"})
    misaligned = put_fragment(bare, url, bytes(1000), 0, total)
    ahead = put_fragment(bare, url, chunk, FRAGMENT_ALIGN, total)
    garbled = bare.put(url, data=chunk, headers={"Content-Range": "bytes=0-1"})
    assert put_fragment(bare, url, chunk, 0, total).status_code == 202
    new_total = put_fragment(bare, url, chunk, FRAGMENT_ALIGN, total + 1)
    overlap = put_fragment(bare, url, chunk, 0, total)

    assert error_of(with_auth)[:2] == (401, "unauthenticated")
    assert error_of(length) == (400, "invalidRequest", "fragmentLengthMismatch")
    assert error_of(misaligned) == (400, "invalidRequest", "invalidFragmentLength")
    assert error_of(ahead) == (416, "invalidRange", "fragmentOutOfOrder")
    assert error_of(garbled) == (400, "invalidRequest", "invalidContentRangeHeader")
    assert error_of(new_total) == (400, "invalidRequest", "fragmentLengthMismatch")
    assert error_of(overlap) == (416, "invalidRange", "fragmentOverlap")
    emulator.max_fragment_bytes = FRAGMENT_ALIGN
    too_big = put_fragment(bare, url, chunk, FRAGMENT_ALIGN, total)
    assert error_of(too_big) == (413, "invalidRequest", "maxFragmentLengthExceeded")
    chunked = bare.put(url, data=iter([b"x"]), headers={
        "Content-Range": f"bytes {FRAGMENT_ALIGN}-{FRAGMENT_ALIGN}/{total}"})
    assert chunked.status_code == 411
    assert bare.get(url).json()["nextExpectedRanges"] == [f"{FRAGMENT_ALIGN}-"]


def test_lenient_mode_takes_misaligned_fragments_and_authorization(
        emulator: OneDriveEmulator, graph: requests.Session, bare: requests.Session) -> None:
    emulator.strict = False
    url = start_session(graph, "/f.bin").json()["uploadUrl"]
    assert put_fragment(bare, url, b"x" * 1000, 0, 1500, Authorization="Bearer x") \
        .status_code == 202
    assert put_fragment(bare, url, b"y" * 500, 1000, 1500).status_code == 201
    assert emulator.file("/f.bin") == b"x" * 1000 + b"y" * 500


@pytest.mark.parametrize("lose", [process_then_reset, lambda: process_then(server_error(503))])
def test_a_lost_fragment_response_then_416_and_resume(emulator: OneDriveEmulator,
                                                      graph: requests.Session,
                                                      bare: requests.Session, lose) -> None:
    data = os.urandom(2 * FRAGMENT_ALIGN + 7)
    url = start_session(graph, "/lost.bin").json()["uploadUrl"]
    emulator.inject("fragment", lose())
    try:
        response = put_fragment(bare, url, data[:FRAGMENT_ALIGN], 0, len(data))
    except requests.exceptions.ConnectionError:
        pass
    else:
        assert response.status_code == 503

    retried = put_fragment(bare, url, data[:FRAGMENT_ALIGN], 0, len(data))
    status = bare.get(url)

    assert error_of(retried) == (416, "invalidRange", "fragmentOverlap")
    assert status.status_code == 200
    assert status.json()["nextExpectedRanges"] == [f"{FRAGMENT_ALIGN}-"]
    resume = FRAGMENT_ALIGN
    assert put_fragment(bare, url, data[resume:2 * resume], resume, len(data)).status_code == 202
    assert put_fragment(bare, url, data[2 * resume:], 2 * resume, len(data)).status_code == 201
    assert emulator.file("/lost.bin") == data
    first = next(r for r in emulator.journal if r.route == "fragment")
    assert first.fault is not None and first.status in (None, 503)


def test_partial_accept_leaves_a_misaligned_offset(emulator: OneDriveEmulator,
                                                   graph: requests.Session,
                                                   bare: requests.Session) -> None:
    data = os.urandom(3 * FRAGMENT_ALIGN)
    url = start_session(graph, "/partial.bin").json()["uploadUrl"]
    emulator.inject("fragment", partial_accept(1000))

    cut = put_fragment(bare, url, data[:2 * FRAGMENT_ALIGN], 0, len(data))

    assert cut.status_code == 202 and cut.json()["nextExpectedRanges"] == ["1000-"]
    assert bare.get(url).json()["nextExpectedRanges"] == ["1000-"]
    # Resume from 1000 and realign: this fragment ends on a 320 KiB boundary of the file.
    realign = put_fragment(bare, url, data[1000:2 * FRAGMENT_ALIGN], 1000, len(data))
    assert realign.status_code == 202
    assert put_fragment(bare, url, data[2 * FRAGMENT_ALIGN:], 2 * FRAGMENT_ALIGN,
                        len(data)).status_code == 201
    assert emulator.file("/partial.bin") == data
    with pytest.raises(ValueError, match="fragment"):
        emulator.inject("content", partial_accept(10))


def test_a_conflict_at_commit_keeps_the_session(emulator: OneDriveEmulator,
                                                graph: requests.Session,
                                                bare: requests.Session) -> None:
    url = start_session(graph, "/race.txt").json()["uploadUrl"]  # conflictBehavior: fail
    emulator.put_file("/Race.txt", b"theirs")

    commit = put_fragment(bare, url, b"mine", 0, 4)

    assert error_of(commit)[:2] == (409, "nameAlreadyExists")
    assert emulator.file("/race.txt") == b"theirs"
    assert bare.get(url).json()["nextExpectedRanges"] == []  # kept, with every byte
    assert bare.delete(url).status_code == 204
    assert error_of(bare.get(url)) == (404, "itemNotFound", "uploadSessionNotFound")


def test_create_session_checks(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    item = emulator.put_file("/a.txt", b"abc")
    assert error_of(start_session(graph, "/a.txt"))[:2] == (409, "nameAlreadyExists")
    stale = graph.post(f"{DRIVE}/root:/a.txt:/createUploadSession", headers={"If-Match": "aOld"},
                       json={"item": {"@microsoft.graph.conflictBehavior": "replace"}})
    present = graph.post(f"{DRIVE}/root:/a.txt:/createUploadSession",
                         headers={"If-None-Match": "*"},
                         json={"item": {"@microsoft.graph.conflictBehavior": "replace"}})
    assert error_of(stale)[:2] == error_of(present)[:2] == (412, "resourceModified")
    assert emulator.item("/a.txt")["eTag"] == item["eTag"]  # refused: no bump
    emulator.set_quota(1000)
    assert error_of(start_session(graph, "/b.bin", fileSize=998))[:2] == \
        (507, "quotaLimitReached")
    assert start_session(graph, "/b.bin", fileSize=997).status_code == 200
    assert error_of(start_session(graph, "/c.bin", **{
        "@microsoft.graph.conflictBehavior": "sometimes"}))[0] == 400
    by_id = graph.post(f"{DRIVE}/items/{item['id']}/createUploadSession")
    assert by_id.status_code == 200  # an item addressed by id is replaced


def test_the_etag_changes_when_a_session_is_created(emulator: OneDriveEmulator,
                                                    graph: requests.Session,
                                                    bare: requests.Session) -> None:
    before = emulator.put_file("/doc.txt", b"v1")
    created = graph.post(f"{DRIVE}/root:/doc.txt:/createUploadSession",
                         headers={"If-Match": before["eTag"]},
                         json={"item": {"@microsoft.graph.conflictBehavior": "replace"}})
    assert created.status_code == 200
    during = emulator.item("/doc.txt")

    assert during["eTag"] != before["eTag"] and during["cTag"] == before["cTag"]
    assert emulator.file("/doc.txt") == b"v1"
    # The trap: the eTag read before the session no longer matches.
    stale = graph.put(f"{DRIVE}/root:/doc.txt:/content", data=b"x",
                      headers={"If-Match": before["eTag"]})
    assert error_of(stale)[:2] == (412, "resourceModified")
    url = created.json()["uploadUrl"]
    stale_fragment = put_fragment(bare, url, b"v2", 0, 2, **{"If-Match": before["eTag"]})
    assert error_of(stale_fragment)[:2] == (412, "resourceModified")
    # The session itself still commits (nobody else changed the item).
    done = put_fragment(bare, url, b"v2", 0, 2)
    assert done.status_code == 200 and done.json()["id"] == before["id"]
    assert done.json()["cTag"] != before["cTag"]

    emulator.etag_bump_on_session = False
    after = emulator.item("/doc.txt")
    start_session(graph, "/doc.txt", **{"@microsoft.graph.conflictBehavior": "replace"})
    assert emulator.item("/doc.txt")["eTag"] == after["eTag"]


def test_a_session_with_if_match_fails_if_the_item_changes(emulator: OneDriveEmulator,
                                                           graph: requests.Session,
                                                           bare: requests.Session) -> None:
    before = emulator.put_file("/doc.txt", b"v1")
    url = graph.post(f"{DRIVE}/root:/doc.txt:/createUploadSession",
                     headers={"If-Match": before["eTag"]},
                     json={"item": {"@microsoft.graph.conflictBehavior": "replace"}}
                     ).json()["uploadUrl"]
    emulator.put_file("/doc.txt", b"another device")
    commit = put_fragment(bare, url, b"mine", 0, 4)
    assert error_of(commit)[:2] == (412, "resourceModified")
    assert emulator.file("/doc.txt") == b"another device"


def test_deferred_commit(emulator: OneDriveEmulator, graph: requests.Session,
                         bare: requests.Session) -> None:
    url = graph.post(f"{DRIVE}/root:/later.txt:/createUploadSession",
                     json={"item": {}, "deferCommit": True}).json()["uploadUrl"]
    early = bare.post(url)
    assert error_of(early) == (400, "invalidRequest", "uploadSessionIncomplete")
    last = put_fragment(bare, url, b"data", 0, 4)
    assert last.status_code == 202 and last.json()["nextExpectedRanges"] == []
    assert emulator.file("/later.txt") is None
    committed = bare.post(url)
    assert committed.status_code == 201 and emulator.file("/later.txt") == b"data"


def test_session_gone_and_expired(emulator: OneDriveEmulator, graph: requests.Session,
                                  bare: requests.Session) -> None:
    url = start_session(graph, "/a.bin").json()["uploadUrl"]
    emulator.inject("fragment", session_gone())
    assert error_of(put_fragment(bare, url, b"x", 0, 1)) == \
        (404, "itemNotFound", "uploadSessionNotFound")
    assert error_of(bare.get(url))[0] == 404  # really gone
    url = start_session(graph, "/a.bin").json()["uploadUrl"]
    emulator.expire_upload_sessions()
    assert error_of(put_fragment(bare, url, b"x", 0, 1))[0] == 404


# --- Graph faults ------------------------------------------------------------------------------

def test_throttling_and_server_errors(emulator: OneDriveEmulator,
                                      graph: requests.Session) -> None:
    emulator.inject("item", throttled(retry_after=3))
    emulator.inject("item", throttled(503, retry_after=None, code="serviceNotAvailable"), nth=2)
    emulator.inject("drive", server_error(504))
    emulator.put_file("/a.txt", b"a")

    first = graph.get(f"{DRIVE}/root:/a.txt")
    second = graph.get(f"{DRIVE}/root:/a.txt")
    gateway = graph.get(DRIVE)

    assert error_of(first) == (429, "activityLimitReached", "429")
    assert first.headers["Retry-After"] == "3"
    assert error_of(second)[:2] == (503, "serviceNotAvailable")
    assert "Retry-After" not in second.headers
    assert error_of(gateway)[:2] == (504, "generalException")
    assert graph.get(f"{DRIVE}/root:/a.txt").status_code == 200


def test_auth_and_write_faults(emulator: OneDriveEmulator, graph: requests.Session,
                               bare: requests.Session) -> None:
    emulator.inject("drive", expired_token())
    emulator.inject("drive", rps_error(), nth=2)
    emulator.inject("content", quota_full())
    emulator.inject("delete", etag_changed())
    expired, rps = graph.get(DRIVE), graph.get(DRIVE)
    full = graph.put(f"{DRIVE}/root:/a.txt:/content", data=b"a")
    assert graph.put(f"{DRIVE}/root:/a.txt:/content", data=b"a").status_code == 201
    changed = graph.delete(f"{DRIVE}/root:/a.txt")

    assert error_of(expired)[:2] == (401, "InvalidAuthenticationToken")
    assert 'error="expired_token"' in expired.headers["WWW-Authenticate"]
    assert rps.json()["error"]["message"] == "Unable to initialize RPS"
    assert error_of(full)[:2] == (507, "quotaLimitReached")
    assert error_of(changed)[:2] == (412, "resourceModified")
    assert emulator.file("/a.txt") == b"a"
    assert graph.get(DRIVE).status_code == 200  # the token itself was fine


def test_respond_reset_and_delay(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    emulator.inject("drive", respond(418, {"error": {"code": "teapot"}},
                                     headers={"X-Extra": "1"}))
    answer = graph.get(DRIVE)
    assert answer.status_code == 418 and answer.headers["X-Extra"] == "1"
    assert answer.json() == {"error": {"code": "teapot"}} and answer.headers["request-id"]
    emulator.inject("drive", reset())
    with pytest.raises(requests.exceptions.ConnectionError):
        graph.get(DRIVE)
    emulator.inject("drive", delay(0.01))
    assert graph.get(DRIVE).status_code == 200
    assert [(r.route, r.status, r.fault) for r in emulator.journal] == [
        ("drive", 418, ("Respond(status=418, body={'error': {'code': 'teapot'}}, "
                        "headers={'X-Extra': '1'}, content_type=None)")),
        ("drive", None, "Reset()"), ("drive", 200, "Delay(seconds=0.01)")]


def test_nth_times_host_and_any_route(emulator: OneDriveEmulator, graph: requests.Session,
                                      bare: requests.Session) -> None:
    rule = emulator.inject("*", server_error(500), host="dl.onedrive.test", nth=2, times=None)
    url = emulator.put_file("/a.txt", b"a")["@microsoft.graph.downloadUrl"]
    statuses = [graph.get(DRIVE).status_code] + [bare.get(url).status_code for _ in range(3)]
    assert statuses == [200, 200, 500, 500] and rule.fired == 2 and rule.pending
    rule.cancel()
    assert bare.get(url).status_code == 200 and emulator.faults_pending() == []


def test_inject_refuses_nonsense(emulator: OneDriveEmulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        emulator.inject("upload", server_error())
    with pytest.raises(ValueError, match="unknown host"):
        emulator.inject("drive", server_error(), host="example.com")
    with pytest.raises(ValueError):
        emulator.inject("drive", server_error(), nth=0)
    with pytest.raises(ValueError, match="token"):
        emulator.inject("drive", invalid_grant())
    with pytest.raises(ValueError):
        emulator.inject("token", session_gone())
    with pytest.raises(ValueError):
        emulator.inject("item", quota_full())


def test_unknown_requests(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    assert error_of(graph.get("https://graph.microsoft.com/v1.0/me/messages"))[:2] == \
        (400, "invalidRequest")
    assert error_of(graph.post(f"{DRIVE}/root:/a.txt:/content", data=b""))[0] == 400
    assert graph.get(f"{LOGIN}/nowhere").status_code == 404
    with requests.Session() as plain:
        direct = plain.get(f"{emulator.url}/v1.0/me/drive")
    assert direct.status_code == 400 and "not Host" in direct.text
    assert [r.route for r in emulator.journal] == ["unknown"] * 4


# --- the adapter, direct state and housekeeping ------------------------------------------------

def test_the_adapter_on_its_own(emulator: OneDriveEmulator) -> None:
    with requests.Session() as session:
        session.mount("https://graph.microsoft.com/", LoopbackAdapter(emulator.port))
        response = session.get(DRIVE, headers={
            "Authorization": f"Bearer {emulator.issue_access_token()}"})
    assert response.status_code == 200 and response.url == DRIVE
    assert response.request.url == DRIVE and "Host" not in response.request.headers
    with loopback_session(emulator.url) as session:
        assert set(session.adapters) >= {
            "https://login.microsoftonline.com/", "https://graph.microsoft.com/",
            "https://upload.onedrive.test/", "https://dl.onedrive.test/"}
    with pytest.raises(ValueError, match="PORT"):
        loopback_session("http://127.0.0.1")


def test_another_devices_view(emulator: OneDriveEmulator) -> None:
    md = emulator.put_file("/Team/Plan.txt", b"plan")
    assert md["name"] == "Plan.txt" and md["parentReference"]["path"] == "/drive/root:/Team"
    assert emulator.item("/team/plan.TXT") == md
    assert emulator.item("/team")["folder"] == {"childCount": 1}
    assert emulator.item("/")["root"] == {}
    assert emulator.file("/TEAM/PLAN.TXT") == b"plan" and emulator.file("/nope") is None
    assert emulator.file("/team") is None
    again = emulator.put_file("/team/plan.txt", b"plan")
    assert again["id"] == md["id"] and again["eTag"] != md["eTag"]
    assert emulator.files() == {"/Team/Plan.txt": b"plan"}
    for bad in ("/", "/Team", "/Team/Plan.txt/below", "/a:b"):
        with pytest.raises(ValueError):
            emulator.put_file(bad, b"")
    emulator.delete_file("/team/plan.txt")
    with pytest.raises(FileNotFoundError):
        emulator.delete_file("/team/plan.txt")
    emulator.set_quota(1)
    emulator.strict = False
    emulator.reset()
    assert emulator.files() == {} and emulator.item("/team") is None
    assert emulator.strict is True and emulator.item("/")["folder"] == {"childCount": 0}


def test_the_journal(emulator: OneDriveEmulator, graph: requests.Session) -> None:
    graph.put(f"{DRIVE}/root:/j%20k.txt:/content", params={
        "@microsoft.graph.conflictBehavior": "fail"}, data=b"12345")
    record = emulator.journal[-1]
    assert (record.method, record.host, record.route, record.body_len, record.status,
            record.fault, record.form) == ("PUT", "graph.microsoft.com", "content", 5, 201,
                                           None, None)
    assert record.path == "/v1.0/me/drive/root:/j%20k.txt:/content"
    assert record.query == {"@microsoft.graph.conflictBehavior": "fail"}
    assert record.headers["authorization"].startswith("Bearer ")
    assert emulator.file("/j k.txt") == b"12345"
    emulator.clear_journal()
    assert emulator.journal == []


def test_start_stop_and_addresses() -> None:
    emulator = OneDriveEmulator(client_id="other-app", auto_approve=False, strict=False)
    with pytest.raises(RuntimeError):
        emulator.url  # noqa: B018
    assert emulator.start() is emulator
    with pytest.raises(RuntimeError):
        emulator.start()
    assert emulator.url == f"http://127.0.0.1:{emulator.port}"
    with emulator.session() as session:  # an open keep-alive connection when stopping
        config = session.get(f"{LOGIN}/common/v2.0/.well-known/openid-configuration")
        assert json.loads(config.text)["msgraph_host"] == "graph.microsoft.com"
    emulator.reset()
    assert (emulator.client_id, emulator.auto_approve, emulator.strict) == \
        ("other-app", False, False)
    emulator.stop()
    emulator.stop()
    with pytest.raises(RuntimeError):
        emulator.session()

def test_python_m_serves_until_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "edgesync_onedrive.testing"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[-1] == "Ctrl-C to stop.\n", lines
        url = lines[0].split(" at ", 1)[1].split()[0]
        assert requests.get(url + "/no-such-route", timeout=10).status_code >= 400
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
