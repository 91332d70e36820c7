"""The emulator building blocks shared by the provider plugins' emulators."""

from __future__ import annotations

import pytest
import requests

from edgesync.testing.emulation import (
    Action,
    Emulator,
    EmulatorServer,
    FaultTable,
    HTTPRequest,
    Reply,
    Rule,
    loopback_session,
    respond,
)


@pytest.fixture
def server():
    seen: list[HTTPRequest] = []

    def handle(request: HTTPRequest) -> Reply:
        seen.append(request)
        if request.path == "/drop":
            return Reply(0, drop=True)
        if request.path == "/cut":
            return Reply(200, body=b"0123456789", truncate=4)
        return Reply(200, [("Content-Type", "text/plain")],
                     f"{request.method} {request.host} {request.query}".encode() + request.body)

    emulator = EmulatorServer(handle, name="test-emulator").start()
    emulator.seen = seen
    yield emulator
    emulator.stop()


def test_requests_for_real_hosts_reach_it_with_their_host(server):
    session = loopback_session(server.url, ["https://api.example.com/"])
    response = session.post("https://api.example.com/v1/x?a=1", data=b"!")
    assert response.text == "POST api.example.com a=1!"
    assert response.url == "https://api.example.com/v1/x?a=1"  # restored for the caller
    assert response.headers["Server"].startswith("edgesync-test-emulator")
    assert server.seen[-1].headers["host"] == "api.example.com"


def test_chunked_bodies_are_decoded(server):
    session = loopback_session(server.url, ["https://api.example.com/"])
    assert session.put("https://api.example.com/", data=iter([b"ab", b"cd"])).text.endswith("abcd")


def test_dropped_and_truncated_replies(server):
    session = loopback_session(server.url, ["https://api.example.com/"])
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get("https://api.example.com/drop")
    with pytest.raises(requests.exceptions.RequestException):
        session.get("https://api.example.com/cut").content


def test_loopback_session_needs_a_port():
    with pytest.raises(ValueError, match="PORT"):
        loopback_session("http://127.0.0.1", ["https://x/"])


class _Fail(Action):
    def run(self, ctx):
        return Reply(500)


def test_rules_count_matching_requests_from_injection():
    table = FaultTable()
    second = table.add(Rule("upload", _Fail(), nth=2, times=2))
    assert table.take("download", None) is None  # another route: not counted
    assert table.take("upload", None) is None  # the first match
    assert table.take("upload", None) is second and table.take("upload", None) is second
    assert table.take("upload", None) is None and table.pending() == []


def test_rules_by_host_and_cancel():
    table = FaultTable()
    rule = table.add(Rule("*", _Fail(), times=None, host="api"))
    assert table.take("x", "content") is None and table.take("x", "api") is rule
    rule.cancel()
    assert table.take("x", "api") is None


def test_an_action_must_say_what_it_does():
    with pytest.raises(TypeError):
        Action()  # abstract: run() is what an action is
    assert repr(_Fail()) == "Fail()"


class _Hello(Emulator):
    name = "hello-emulator"
    prefixes = ("https://hello.example/",)

    def __init__(self) -> None:
        super().__init__()
        self.cleared = 0

    def _clear_state(self) -> None:
        self.cleared += 1

    def serve(self, request: HTTPRequest) -> Reply:
        return Reply(200, body=b"hello")


def test_an_emulator_subclass_has_a_lifecycle_and_sessions():
    emulator = _Hello()
    with pytest.raises(RuntimeError, match="start"):
        emulator.port
    with emulator:
        session = emulator.session()
        assert session.get("https://hello.example/").text == "hello"
        with pytest.raises(RuntimeError, match="already running"):
            emulator.start()
    emulator.stop()  # twice is harmless
    with pytest.raises(RuntimeError):
        emulator.url


def test_checked_resets_around_a_block_and_fails_one_that_broke_the_emulator():
    with _Hello() as hello:
        hello.inject("*", respond(503))
        with hello.checked() as same:
            assert same is hello and hello.faults_pending() == [] and hello.cleared == 1
            assert hello.session().get("https://hello.example/").text == "hello"
        assert hello.cleared == 2
        with pytest.raises(AssertionError, match=r"failed while handling requests: "
                                                 r"\[ValueError\('a bug'\)\]"):
            with hello.checked():
                hello.server_errors.append(ValueError("a bug"))
        assert hello.server_errors == [] and hello.cleared == 4
