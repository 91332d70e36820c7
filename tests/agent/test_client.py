"""EdgeClient against a real edge, and the edge's errors turned back into classes."""

from __future__ import annotations

import socket

import pytest

from edgesync import errors
from edgesync.agent.client import EdgeClient, error_from_json
from edgesync.testing.edge import running_edge


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client-edge")
    with running_edge(folder / "edge", options={"root": str(folder / "cloud"),
                                                "fsync": False}) as edge:
        yield edge


@pytest.fixture
def client(server):
    return EdgeClient(server.url, server.token, fingerprint=server.fingerprint, timeout=10,
                      retries=1, sleep=lambda seconds: None)


def test_round_trip_through_the_api(client):
    import hashlib

    content = b"hello, edge " * 100
    reply = client.put("c/a.txt", content, sha256=hashlib.sha256(content).hexdigest(),
                       gzip_level=6)
    assert reply["upload"]["state"] == "uploaded" and reply["received"] < len(content)
    assert client.download("c/a.txt") == content
    assert client.meta("c/a.txt")["size"] == len(content)
    assert "c/a.txt" in {item["path"] for item in client.files()}
    assert client.version()["api"] == 1
    assert client.delete("c/a.txt")["deleted"] is True
    with pytest.raises(errors.NotFoundError):
        client.meta("c/a.txt")


def test_progress_is_reported(client):
    import hashlib

    content = bytes(range(256)) * 4096
    seen: list[tuple[int, int]] = []
    client.put("p.bin", content, sha256=hashlib.sha256(content).hexdigest(),
               progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(content), len(content))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_the_edges_errors_come_back_as_their_classes(client):
    from edgesync.delta import diff

    with pytest.raises(errors.BaseMismatchError) as caught:
        client.patch("missing.txt", diff(b"a", b"b"))
    assert caught.value.http_status == 409 and caught.value.current is None
    with pytest.raises(errors.InvalidPathError):
        client.put("bad\x01name", b"x", sha256="0" * 64)
    with pytest.raises(errors.WireFormatError):
        client.put("ok.txt", b"x", sha256="0" * 64)  # the announced hash is wrong


def test_a_wrong_token_is_unauthorized(server):
    client = EdgeClient(server.url, "esk_nope", fingerprint=server.fingerprint, retries=0)
    with pytest.raises(errors.UnauthorizedError):
        client.files()


def test_a_wrong_certificate_is_refused_at_once(server):
    slept: list[float] = []
    client = EdgeClient(server.url, server.token, fingerprint="CD" * 32, retries=3,
                        sleep=slept.append)
    with pytest.raises(errors.CertificateMismatchError, match="pair again"):
        client.files()
    assert slept == []  # not retried: a changed certificate does not heal


def test_an_unreachable_edge_is_retried_then_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    slept: list[float] = []
    client = EdgeClient(f"https://127.0.0.1:{port}", "esk_x", fingerprint="AB" * 32,
                        retries=2, timeout=2, sleep=slept.append)
    with pytest.raises(errors.EdgeUnreachableError, match="cannot reach the edge") as caught:
        client.files()
    assert caught.value.retryable and len(slept) == 2


@pytest.mark.parametrize("cls", [getattr(errors, name) for name in errors.__all__],
                         ids=lambda cls: cls.__name__)
def test_error_from_json_maps_every_code(cls):
    error = error_from_json({"code": cls.code, "message": "m", "path": "p", "limit": "l"}, 400)
    assert type(error) is cls and error.message == "m"


def test_error_from_json_of_nonsense():
    assert type(error_from_json("<html>", 502)) is errors.EdgesyncError
    assert type(error_from_json({"code": "from_the_future", "message": "x"}, 400)) \
        is errors.EdgesyncError
