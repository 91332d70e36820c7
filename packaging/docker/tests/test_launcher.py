"""The N-instance launcher (``DIR/launch``), against a fake ``docker``.

A SIMULATION: the ``docker`` found on PATH is a script written by these tests.
It records its argv (one JSON line each) and prints canned ``ps`` and
``volume ls`` output that includes a container and a volume of ANOTHER
launcher with the same name prefix. These tests prove the command lines,
the label filtering and the state file, not that a real engine runs them.
The health wait is tested against real HTTP(S) servers on loopback.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import shlex
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgesync_pack_docker.launcher import (
    LaunchConfig,
    default_launcher_id,
    main,
    parse_listing,
    wait_healthy,
)

from edgesync.errors import ConfigError, PackError
from edgesync.pack.instances import Instance, write_launcher

LAUNCHER_ID = "bundle-1"
OTHER_ID = "other-bundle-2"
IMAGE = "edgesync-edge:test"

FAKE_DOCKER = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
fail = os.environ.get("FAKE_DOCKER_FAIL", "")
if fail and args[:1] == [fail]:
    sys.exit("Error response from daemon: " + fail + " failed")
if args[:1] == ["ps"]:
    sys.stdout.write(open(os.environ["FAKE_DOCKER_PS"]).read())
elif args[:2] == ["volume", "ls"]:
    sys.stdout.write(open(os.environ["FAKE_DOCKER_VOLUMES"]).read())
elif args[:1] == ["run"]:
    print("f" * 64)
elif args[:2] == ["volume", "create"]:
    print(args[-1])
elif args[:1] == ["inspect"]:
    print(os.environ.get("FAKE_DOCKER_STATUS", "running"))
elif args[:1] == ["logs"]:
    print("edge: starting")
    print("edge: error: the configured provider failed", file=sys.stderr)
elif args[:1] == ["rm"] or args[:2] == ["volume", "rm"]:
    print("\\n".join(a for a in args if not a.startswith("-") and a not in ("rm", "volume")))
"""

# Docker's `ps --format '{{json .}}'` lines (labels as one string), a podman-style
# line (names as a list, labels as an object), and another launcher's container
# with the same name prefix, which must never be touched.
PS_LINES = [
    {"ID": "aaa111", "Names": "edgesync-edge-1", "State": "running", "Status": "Up 5 minutes",
     "Labels": f"io.edgesync.instance=edgesync-edge-1,io.edgesync.launcher={LAUNCHER_ID},"
               "io.edgesync.user=alice,org.opencontainers.image.description=an edge, with a comma",
     "Ports": "0.0.0.0:8443->8443/tcp"},
    {"Id": "bbb222", "Names": ["edgesync-edge-2"], "State": "exited",
     "Status": "Exited (1) 2 minutes ago",
     "Labels": {"io.edgesync.instance": "edgesync-edge-2", "io.edgesync.launcher": LAUNCHER_ID,
                "io.edgesync.user": "user2"}},
    {"ID": "ccc333", "Names": "edgesync-edge-9", "State": "running", "Status": "Up 1 hour",
     "Labels": f"io.edgesync.instance=edgesync-edge-9,io.edgesync.launcher={OTHER_ID},"
               "io.edgesync.user=mallory"},
]
VOLUME_LINES = [
    {"Driver": "local", "Name": "edgesync-edge-1-state",
     "Labels": f"io.edgesync.launcher={LAUNCHER_ID},io.edgesync.instance=edgesync-edge-1"},
    {"Driver": "local", "Name": "edgesync-edge-2-state",
     "Labels": {"io.edgesync.launcher": LAUNCHER_ID}},
    {"Driver": "local", "Name": "edgesync-edge-9-state",
     "Labels": f"io.edgesync.launcher={OTHER_ID}"},
]


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake ``docker`` first on PATH; returns its argv log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "docker.log"
    ps = tmp_path / "ps.txt"
    ps.write_text("".join(json.dumps(line) + "\n" for line in PS_LINES))
    volumes = tmp_path / "volumes.txt"
    volumes.write_text("".join(json.dumps(line) + "\n" for line in VOLUME_LINES))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("EDGESYNC_DOCKER", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_DOCKER_PS", str(ps))
    monkeypatch.setenv("FAKE_DOCKER_VOLUMES", str(volumes))
    return log


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    here = tmp_path / "bundle"
    here.mkdir()
    LaunchConfig(image=IMAGE, provider="local", launcher_id=LAUNCHER_ID).dump(
        here / "launch.json")
    write_launcher(here, "edgesync_pack_docker.launcher", what="Containers.",
                   distribution="edgesync-pack-docker")
    return here.resolve()


QUERIES = [["ps", "-a", "--filter", f"label=io.edgesync.launcher={LAUNCHER_ID}",
            "--format", "{{json .}}"],
           ["volume", "ls", "--filter", f"label=io.edgesync.launcher={LAUNCHER_ID}",
            "--format", "{{json .}}"]]


def _engine_shows(log: Path, containers: list[dict], volumes: list[dict]) -> None:
    """What the fake engine's ``ps`` and ``volume ls`` answer from now on."""
    (log.parent / "ps.txt").write_text("".join(json.dumps(c) + "\n" for c in containers))
    (log.parent / "volumes.txt").write_text("".join(json.dumps(v) + "\n" for v in volumes))


def _changes(calls: list[list[str]]) -> list[list[str]]:
    """The calls that change something (not the read-only ``ps``/``volume ls``)."""
    return [call for call in calls if call not in QUERIES]


def _expected_create(here: Path, users: list[str], *, publish_host: str = "") -> list[list[str]]:
    """What ``create`` runs on an engine that has none of this launcher's containers."""
    calls = list(QUERIES)
    for index, user in enumerate(users, start=1):
        name = f"edgesync-edge-{index}"
        port = 8442 + index
        labels = ["--label", f"io.edgesync.launcher={LAUNCHER_ID}",
                  "--label", f"io.edgesync.instance={name}", "--label", f"io.edgesync.user={user}"]
        calls.append(["volume", "create", *labels, f"{name}-state"])
        calls.append(["run", "-d", "--name", name, *labels,
                      "-p", f"{publish_host}{port}:{port}",
                      "-v", f"{here}/instances/{name}/edge:/run/secrets/edgesync:ro",
                      "-v", f"{name}-state:/var/lib/edgesync", "--restart", "unless-stopped",
                      "--cap-drop", "ALL", "--security-opt", "no-new-privileges", IMAGE])
    return calls


def _printed_commands(text: str) -> list[list[str]]:
    return [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("docker ")]


# --- create -------------------------------------------------------------------------


def test_create_runs_the_exact_commands(bundle: Path, fake_docker: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _engine_shows(fake_docker, [], [])
    assert main(["create", "2", "--no-wait", "--user", "alice"], here=bundle) == 0
    assert _calls(fake_docker) == _expected_create(bundle, ["alice", "user2"])
    out = capsys.readouterr().out
    state = json.loads((bundle / "instances" / "state.json").read_text())
    assert sorted(state["instances"]) == ["edgesync-edge-1", "edgesync-edge-2"]
    first = state["instances"]["edgesync-edge-1"]
    assert (first["user"], first["port"], first["volume"]) == ("alice", 8443,
                                                               "edgesync-edge-1-state")
    edge = bundle / "instances" / "edgesync-edge-1" / "edge"
    assert 'listen = "0.0.0.0:8443"' in (edge / "edge.toml").read_text()
    assert (edge / "tls" / "cert.pem").exists() and (edge / "tokens.json").exists()
    token = bundle / "instances" / "edgesync-edge-1" / "token"
    assert token.stat().st_mode & 0o777 == 0o600
    # How to pair: the real command, the pinned fingerprint, the token file.
    assert (f"edgesync pair https://localhost:8443 --token - --fingerprint "
            f"{first['fingerprint']} --root ~/Documents < {token}") in out


def test_dry_run_prints_the_same_commands_and_writes_nothing(
        bundle: Path, fake_docker: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _engine_shows(fake_docker, [], [])
    before = sorted(p.name for p in bundle.iterdir())
    assert main(["create", "2", "--user", "alice", "--dry-run"], here=bundle) == 0
    printed = _printed_commands(capsys.readouterr().out)
    assert _calls(fake_docker) == QUERIES  # only asked what runs
    assert sorted(p.name for p in bundle.iterdir()) == before  # no instances/ folder
    assert main(["create", "2", "--user", "alice", "--no-wait"], here=bundle) == 0
    assert printed == _changes(_calls(fake_docker))
    assert _calls(fake_docker)[len(QUERIES):] == _expected_create(bundle, ["alice", "user2"])


def test_plain_http_publishes_on_loopback_only(bundle: Path, fake_docker: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = LaunchConfig.load(bundle / "launch.json")
    LaunchConfig(**{**config.to_dict(), "plain_http": True}).dump(bundle / "launch.json")
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--no-wait"], here=bundle) == 0
    assert _calls(fake_docker) == _expected_create(bundle, ["user1"], publish_host="127.0.0.1:")
    toml = (bundle / "instances" / "edgesync-edge-1" / "edge" / "edge.toml").read_text()
    assert "tls = false" in toml and "behind_proxy = true" in toml


def _ours_running(*names_users: tuple[str, str], state: str = "running") -> list[dict]:
    return [{"ID": f"id-{name}", "Names": name, "State": state, "Status": state,
             "Labels": f"io.edgesync.instance={name},io.edgesync.launcher={LAUNCHER_ID},"
                       f"io.edgesync.user={user}"} for name, user in names_users]


def test_create_again_starts_only_what_is_missing(bundle: Path, fake_docker: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--no-wait", "--user", "alice"], here=bundle) == 0
    # Edge 1 runs now; create 3 keeps it, starts 2 and 3.
    _engine_shows(fake_docker, _ours_running(("edgesync-edge-1", "alice")),
                  [{"Name": "edgesync-edge-1-state",
                    "Labels": f"io.edgesync.launcher={LAUNCHER_ID}"}])
    assert main(["create", "3", "--no-wait"], here=bundle) == 0
    runs = [call[3] for call in _calls(fake_docker) if call[0] == "run"]
    assert runs == ["edgesync-edge-1", "edgesync-edge-2", "edgesync-edge-3"]
    assert "edgesync-edge-1: already running" in capsys.readouterr().out
    # A stopped container of ours is started again, not replaced.
    _engine_shows(fake_docker, _ours_running(("edgesync-edge-1", "alice"),
                                             ("edgesync-edge-2", "user2"), state="exited")
                  + _ours_running(("edgesync-edge-3", "user3")), [])
    count = len(_calls(fake_docker))
    assert main(["create", "3", "--no-wait"], here=bundle) == 0
    assert _changes(_calls(fake_docker)[count:]) == [["start", "edgesync-edge-1"],
                                                     ["start", "edgesync-edge-2"]]


def test_create_after_clean_keeps_the_folders_user_and_token(bundle: Path,
                                                             fake_docker: Path) -> None:
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--no-wait", "--user", "alice"], here=bundle) == 0
    token = (bundle / "instances" / "edgesync-edge-1" / "token").read_text()
    _engine_shows(fake_docker, _ours_running(("edgesync-edge-1", "alice")), [])
    assert main(["clean"], here=bundle) == 0
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--no-wait"], here=bundle) == 0
    last = _calls(fake_docker)[-1]
    assert last[3] == "edgesync-edge-1" and "io.edgesync.user=alice" in last
    assert (bundle / "instances" / "edgesync-edge-1" / "token").read_text() == token


def test_create_refuses_another_user_for_an_existing_folder(
        bundle: Path, fake_docker: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--no-wait", "--user", "alice"], here=bundle) == 0
    assert main(["clean"], here=bundle) == 0
    count = len(_calls(fake_docker))
    assert main(["create", "1", "--no-wait", "--user", "bob"], here=bundle) == 1
    assert "already serves user 'alice', not 'bob'" in capsys.readouterr().err
    assert len(_calls(fake_docker)) == count  # refused before any command


def test_a_failed_run_says_what_to_do(bundle: Path, fake_docker: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "run")
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--no-wait"], here=bundle) == 1
    err = capsys.readouterr().err
    assert "run failed" in err and f"docker build -t {IMAGE}" in err
    assert "./launch clean" in err


def test_edgesync_docker_names_the_program(bundle: Path, fake_docker: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    fake = fake_docker.parent / "bin" / "docker"
    monkeypatch.setenv("EDGESYNC_DOCKER", f"{fake} --remote")
    _engine_shows(fake_docker, [], [])
    assert main(["create", "1", "--dry-run"], here=bundle) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "volume create" in line]
    assert lines and lines[0].startswith(f"{fake} --remote volume create ")
    assert _calls(fake_docker)[0][:2] == ["--remote", "ps"]


def test_a_dry_run_without_an_engine_shows_a_first_start(
        bundle: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EDGESYNC_DOCKER", "/nonexistent/docker")
    assert main(["create", "1", "--dry-run"], here=bundle) == 0
    out = capsys.readouterr().out
    assert "the engine could not be asked what runs" in out
    assert "/nonexistent/docker run -d --name edgesync-edge-1" in out
    assert main(["create", "1", "--no-wait"], here=bundle) == 1  # a real run needs it


# --- list and clean ----------------------------------------------------------------------


def _state(here: Path, *names: str) -> None:
    instances = {name: {"index": int(name.rsplit("-", 1)[1]), "user": f"u{name[-1]}",
                        "port": 8442 + int(name.rsplit("-", 1)[1])} for name in names}
    path = here / "instances" / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"instances": instances}))
    for name in names:
        (here / "instances" / name / "edge").mkdir(parents=True, exist_ok=True)


def test_list_shows_only_this_launcher(bundle: Path, fake_docker: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _state(bundle, "edgesync-edge-1", "edgesync-edge-3")
    assert main(["list", "--json"], here=bundle) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["user"], r["state"], r["recorded"]) for r in rows] == [
        ("edgesync-edge-1", "alice", "running", True),
        ("edgesync-edge-2", "user2", "exited", False),
        ("edgesync-edge-3", "u3", "missing", True)]
    assert rows[0]["port"] == 8443 and rows[0]["id"] == "aaa111"
    assert _calls(fake_docker) == [["ps", "-a", "--filter",
                                    f"label=io.edgesync.launcher={LAUNCHER_ID}",
                                    "--format", "{{json .}}"]]
    assert main(["list"], here=bundle) == 0
    table = capsys.readouterr().out
    assert "edgesync-edge-2" in table and "edgesync-edge-9" not in table


def test_clean_removes_only_this_launchers_containers(bundle: Path, fake_docker: Path) -> None:
    _state(bundle, "edgesync-edge-1", "edgesync-edge-3")
    assert main(["clean"], here=bundle) == 0
    calls = _calls(fake_docker)
    assert calls[1:] == [["rm", "-f", "aaa111", "bbb222"]]
    assert not any("ccc333" in call or "edgesync-edge-9" in call for call in calls)
    assert json.loads((bundle / "instances" / "state.json").read_text()) == {"instances": {}}
    assert (bundle / "instances" / "edgesync-edge-1" / "edge").is_dir()  # kept


def test_clean_purge_removes_volumes_and_folders(bundle: Path, fake_docker: Path) -> None:
    _state(bundle, "edgesync-edge-1", "edgesync-edge-3")
    assert main(["clean", "--purge"], here=bundle) == 0
    changes = [call for call in _calls(fake_docker) if call[0] != "ps"
               and call[:2] != ["volume", "ls"]]
    assert changes == [["rm", "-f", "aaa111", "bbb222"],
                       ["volume", "rm", "edgesync-edge-1-state", "edgesync-edge-2-state"]]
    assert [p.name for p in (bundle / "instances").iterdir()] == ["state.json"]


def test_clean_dry_run_changes_nothing(bundle: Path, fake_docker: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _state(bundle, "edgesync-edge-1")
    state = (bundle / "instances" / "state.json").read_text()
    assert main(["clean", "--purge", "--dry-run"], here=bundle) == 0
    out = capsys.readouterr().out
    assert "docker rm -f aaa111 bbb222" in out
    assert "docker volume rm edgesync-edge-1-state edgesync-edge-2-state" in out
    assert all(call[0] == "ps" or call[:2] == ["volume", "ls"] for call in _calls(fake_docker))
    assert (bundle / "instances" / "state.json").read_text() == state
    assert (bundle / "instances" / "edgesync-edge-1" / "edge").is_dir()


def test_parse_listing_accepts_lines_and_arrays() -> None:
    assert parse_listing('{"a": 1}\nWARNING: something\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    assert parse_listing('[{"a": 1}, {"b": 2}]') == [{"a": 1}, {"b": 2}]
    assert parse_listing("") == []


# --- waiting for health -----------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    ok_after = 3  # answers 503 until this many requests have been made

    def do_GET(self) -> None:
        server = self.server
        server.hits += 1  # type: ignore[attr-defined]
        ready = server.hits >= self.ok_after  # type: ignore[attr-defined]
        status = 200 if ready and self.path == "/v1/health" else 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(context: ssl.SSLContext | None = None) -> http.server.HTTPServer:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
        server.hits = 0  # type: ignore[attr-defined]
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _instance(tmp_path: Path, port: int) -> Instance:
    return Instance(index=1, name="edgesync-edge-1", user="alice", port=port,
                    folder=tmp_path / "edgesync-edge-1")


def test_wait_healthy_polls_until_200(tmp_path: Path, serve) -> None:
    server = serve()
    out = io.StringIO()
    wait_healthy([_instance(tmp_path, server.server_address[1])], plain_http=True,
                 timeout=10, out=out, interval=0.05)
    assert server.hits == 3
    assert "edgesync-edge-1: healthy" in out.getvalue()


def test_wait_healthy_pins_the_instance_certificate(tmp_path: Path, serve) -> None:
    from edgesync.tls import create_certificate

    served = tmp_path / "served"
    create_certificate(served / "cert.pem", served / "key.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(served / "cert.pem", served / "key.pem")
    server = serve(context)
    inst = _instance(tmp_path, server.server_address[1])
    (inst.edge_dir / "tls").mkdir(parents=True)
    # Another certificate in the instance's folder: the server is not this edge.
    create_certificate(inst.edge_dir / "tls" / "cert.pem", tmp_path / "other-key.pem")
    with pytest.raises(PackError, match="did not answer"):
        wait_healthy([inst], plain_http=False, timeout=1, out=io.StringIO(), interval=0.05)
    (inst.edge_dir / "tls" / "cert.pem").write_bytes((served / "cert.pem").read_bytes())
    server.hits = 0
    wait_healthy([inst], plain_http=False, timeout=10, out=io.StringIO(), interval=0.05)
    assert server.hits == 3


def test_wait_healthy_times_out_with_the_log(tmp_path: Path, fake_docker: Path,
                                             serve) -> None:
    server = serve()
    server.RequestHandlerClass = type("Never", (_Health,), {"ok_after": 10**9})
    started = time.monotonic()
    with pytest.raises(PackError) as caught:
        wait_healthy([_instance(tmp_path, server.server_address[1])], plain_http=True,
                     timeout=0.6, out=io.StringIO(), docker=["docker"], interval=0.05)
    assert time.monotonic() - started < 5
    message = caught.value.message
    assert "edgesync-edge-1 did not answer" in message and "answered 503" in message
    assert "the configured provider failed" in message  # the container's stderr
    assert ["logs", "--tail", "30", "edgesync-edge-1"] in _calls(fake_docker)


def test_wait_healthy_stops_early_when_the_container_exits(
        tmp_path: Path, fake_docker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_STATUS", "exited")
    started = time.monotonic()
    with pytest.raises(PackError, match=r"stopped \(exited\)"):
        wait_healthy([_instance(tmp_path, 9)], plain_http=True, timeout=60,
                     out=io.StringIO(), docker=["docker"], interval=0.1)
    assert time.monotonic() - started < 10


# --- settings and the script -----------------------------------------------------------


def test_config_round_trip_and_defaults(tmp_path: Path) -> None:
    config = LaunchConfig(image=IMAGE, provider="local", launcher_id="x")
    assert config.provider_options == {"root": "/var/lib/edgesync/cloud"}
    assert config.names == ("localhost", "127.0.0.1") and config.base_port == 8443
    config.dump(tmp_path / "launch.json")
    assert LaunchConfig.load(tmp_path / "launch.json") == config
    other = LaunchConfig(image=IMAGE, provider="dropbox", launcher_id="x")
    assert other.provider_options == {}


@pytest.mark.parametrize(("change", "key"), [
    ({"base_port": "8443"}, "base_port"), ({"base_port": 70000}, "base_port"),
    ({"prefix": "Edge Box"}, "prefix"), ({"plain_http": "no"}, "plain_http"),
    ({"names": "localhost"}, "names"), ({"health_timeout": 0}, "health_timeout"),
    ({"provider_options": {"root": ["x"]}}, "provider_options.root"),
    ({"launcher_id": "a b"}, "launcher_id"), ({"colour": "red"}, "colour"),
    ({"image": ""}, "image")])
def test_config_errors_name_the_key(tmp_path: Path, change: dict, key: str) -> None:
    data = {"image": IMAGE, "provider": "local", "launcher_id": "x", **change}
    path = tmp_path / "launch.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=key) as caught:
        LaunchConfig.load(path)
    assert str(path) in caught.value.message


def test_missing_launcher_id_comes_from_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "launch.json"
    path.write_text(json.dumps({"image": IMAGE, "provider": "local"}))
    config = LaunchConfig.load(path)
    assert config.launcher_id == default_launcher_id(tmp_path)
    assert config.launcher_id != default_launcher_id(tmp_path / "elsewhere")


def test_launch_script_runs_main(bundle: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([str(bundle / "launch"), "--help"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "examples:" in done.stdout and "./launch create 2" in done.stdout
    assert f"launcher id {LAUNCHER_ID}" in done.stdout


def test_help_works_without_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], here=tmp_path) == 0
    assert "clean --purge" in capsys.readouterr().out
    assert main(["list"], here=tmp_path) == 1
    assert "launch.json does not exist" in capsys.readouterr().err
