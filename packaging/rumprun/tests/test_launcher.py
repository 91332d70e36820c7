"""Tests of ``DIR/launch`` (create, list, clean) against fake rumprun, xl and mke2fs.

The fakes are small Python scripts put first on PATH. Each appends its argv
(one JSON line) to a log, and behaves like the real program where the
launcher depends on it: rumprun checks that every ``-b`` image exists and
prints ``xen:<domid>`` (adding the domain to what the fake ``xl list`` shows)
or ``qemu:<pid>`` (of a real, sleeping process whose command line holds the
instance's name, as qemu's ``-append`` does); ``xl destroy`` fails for an
unknown domain; mke2fs creates the image file.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edgesync_pack_rumprun.iso import read_iso
from edgesync_pack_rumprun.launcher import (
    LaunchConfig,
    interface_spec,
    main,
    rumprun_argv,
    xen_mac,
)

from edgesync.errors import ConfigError
from edgesync.pack.instances import Instance
from edgesync.tls import fingerprint

# Domains the fake ``xl list`` shows that this launcher did not create.
FOREIGN = {"Domain-0": 0, "rumprun-other": 3, "edgesync-edge-9": 5}

FAKE_RUMPRUN = """\
import json, os, subprocess, sys
d = os.environ["FAKE_DIR"]
argv = sys.argv[1:]
with open(os.path.join(d, "log.jsonl"), "a") as log:
    log.write(json.dumps(["rumprun", *argv]) + "\\n")
print("!!! NOTE: rumprun is experimental", file=sys.stderr)
if os.environ.get("FAKE_RUMPRUN_FAIL"):
    print("rumprun: error: xl create failed", file=sys.stderr)
    sys.exit(1)
for i, arg in enumerate(argv):
    if arg == "-b":
        image = argv[i + 1].rsplit(",", 1)[0]
        if not os.path.isfile(image):
            print("rumprun: error: File " + image + " does not exist", file=sys.stderr)
            sys.exit(1)
name = argv[argv.index("-N") + 1]
if argv[0] == "xen":
    path = os.path.join(d, "xl.json")
    with open(path) as fp:
        xl = json.load(fp)
    domid = xl["next"]
    xl["next"] += 1
    xl["domains"][name] = domid
    with open(path, "w") as fp:
        json.dump(xl, fp)
    print("xen:%d" % domid)
else:
    child = subprocess.Popen(
        [sys.executable, "-S", "-c", "import time; time.sleep(60)", '"hostname": "%s"' % name],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    with open(os.path.join(d, "pids"), "a") as fp:
        fp.write("%d\\n" % child.pid)
    print("qemu:%d" % child.pid)
"""

FAKE_XL = """\
import json, os, sys
d = os.environ["FAKE_DIR"]
argv = sys.argv[1:]
with open(os.path.join(d, "log.jsonl"), "a") as log:
    log.write(json.dumps(["xl", *argv]) + "\\n")
path = os.path.join(d, "xl.json")
with open(path) as fp:
    xl = json.load(fp)
if argv == ["list"]:
    print("Name                                        ID   Mem VCPUs\\tState\\tTime(s)")
    for name, domid in xl["domains"].items():
        print("%-40s %5d %5d %5d     %s %10.1f" % (name, domid, 256, 1, "-b----", 1.5))
elif argv[:1] == ["destroy"] and len(argv) == 2:
    if argv[1] not in xl["domains"]:
        print("libxl: error: domain %s not found" % argv[1], file=sys.stderr)
        sys.exit(1)
    del xl["domains"][argv[1]]
    with open(path, "w") as fp:
        json.dump(xl, fp)
else:
    print("xl: unknown command", file=sys.stderr)
    sys.exit(2)
"""

FAKE_MKE2FS = """\
import json, os, sys
d = os.environ["FAKE_DIR"]
with open(os.path.join(d, "log.jsonl"), "a") as log:
    log.write(json.dumps(["mke2fs", *sys.argv[1:]]) + "\\n")
with open(sys.argv[-2], "wb") as fp:
    fp.write(b"fresh ext2 image\\n")
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder of fake programs, first on PATH; its log.jsonl records their argv."""
    folder = tmp_path / "fake"
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("rumprun", FAKE_RUMPRUN), ("xl", FAKE_XL), ("mke2fs", FAKE_MKE2FS)):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable} -S\n{body}")
        script.chmod(0o755)
    (folder / "xl.json").write_text(json.dumps({"next": 17, "domains": dict(FOREIGN)}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DIR", str(folder))
    monkeypatch.delenv("FAKE_RUMPRUN_FAIL", raising=False)
    yield folder
    pids = folder / "pids"
    for line in pids.read_text().split() if pids.exists() else []:
        try:
            os.kill(int(line), signal.SIGKILL)
        except ProcessLookupError:
            pass


def calls(fake: Path) -> list[list[str]]:
    """Every fake program's argv so far, program name first."""
    log = fake / "log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def domains(fake: Path) -> dict[str, int]:
    return json.loads((fake / "xl.json").read_text())["domains"]


def make_dir(tmp_path: Path, **settings: Any) -> Path:
    """The folder ``edgesync-pack rumprun`` would make: images and launch.json."""
    here = tmp_path / "out"
    here.mkdir()
    for name in ("python.bin", "python.iso", "main.iso"):
        (here / name).write_bytes(b"image " + name.encode())
    values: dict[str, Any] = {"python_bin": "python.bin", "python_iso": "python.iso",
                              "provider": "local", "plain_http": True,
                              "provider_options": {"root": "/state/cloud/{user}"}}
    values.update(settings)
    LaunchConfig(**values).dump(here / "launch.json")
    return here


def run(here: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(argv), here=here)
    out, err = capsys.readouterr()
    return code, out, err


def state(here: Path) -> dict[str, Any]:
    return json.loads((here / "instances" / "state.json").read_text())["instances"]


def gone(pid: int) -> bool:
    """The process ended (it may linger as a zombie until its parent reaps it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] in ("Z", "X")


def xen_golden(here: Path, index: int, mac: str) -> list[str]:
    inst = here / "instances" / f"edgesync-edge-{index}"
    return ["rumprun", "xen", "-M", "256", "-N", f"edgesync-edge-{index}",
            "-I", f"net0,xenif,bridge=xenbr0,mac={mac}", "-W", "net0,inet,dhcp",
            "-b", f"{here}/python.iso,/python/lib/python3.5",
            "-b", f"{here}/main.iso,/python/lib/python3.5/site-packages",
            "-b", f"{inst}/edge.iso,/edge", "-b", f"{inst}/state.img,/state",
            "-e", "PYTHONHOME=/python", "-e", "EDGESYNC_EDGE_DIR=/edge",
            "-e", "EDGESYNC_STATE_DIR=/state", "-e", "EDGESYNC_LOAD_PLUGINS=local",
            "--", f"{here}/python.bin", "-m", "edgesync.edge"]


def mke2fs_golden(here: Path, index: int, size: str = "256M") -> list[str]:
    image = here / "instances" / f"edgesync-edge-{index}" / "state.img.new"
    return ["mke2fs", "-q", "-t", "ext2", "-L", "edgesync-state", "-F", str(image), size]


# --- create: golden command lines ------------------------------------------------


def test_create_xen_with_bridge_runs_exactly_these_commands(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0",
                    plain_http=False, names=["edge.example"])
    code, out, err = run(here, "create", "2", "--user", "alice", "--user", "bob", capsys=capsys)
    assert (code, err) == (0, "")
    assert calls(fake) == [
        mke2fs_golden(here, 1),
        xen_golden(here, 1, "00:16:3e:8c:00:01"),
        mke2fs_golden(here, 2),
        xen_golden(here, 2, "00:16:3e:8c:00:02"),
    ]
    records = state(here)
    assert sorted(records) == ["edgesync-edge-1", "edgesync-edge-2"]
    for name, domid, user, port in (("edgesync-edge-1", 17, "alice", 8443),
                                    ("edgesync-edge-2", 18, "bob", 8444)):
        record = dict(records[name])
        created = datetime.datetime.fromisoformat(record.pop("created"))
        assert abs(datetime.datetime.now(datetime.UTC) - created).total_seconds() < 60
        assert record == {"name": name, "platform": "xen", "id": domid, "user": user,
                          "port": port}
        assert f"{name} (user {user}, port {port}): started as xen:{domid}" in out
    assert set(domains(fake)) == set(FOREIGN) | {"edgesync-edge-1", "edgesync-edge-2"}

    inst = here / "instances" / "edgesync-edge-2"
    assert (inst / "state.img").read_bytes() == b"fresh ext2 image\n"
    assert not (inst / "state.img.new").exists()
    edge = read_iso(inst / "edge.iso")
    toml = edge["edge.toml"].data
    assert toml is not None and b'user = "bob"' in toml and b'"0.0.0.0:8444"' in toml
    assert "tls/cert.pem" in edge

    # The pairing hint is a real 'edgesync pair' command line with the
    # certificate's fingerprint and the instance's token.
    fp = fingerprint((inst / "edge" / "tls" / "cert.pem").read_text("ascii"))
    line = next(line.strip() for line in out.splitlines()
                if line.strip().startswith("edgesync pair https://edge.example:8444"))
    words, redirect = line.split(" < ")
    assert redirect == str(inst / "token")
    args = shlex.split(words)
    assert args[args.index("--fingerprint") + 1] == fp
    from edgesync.cli import main as edgesync_cli

    pair = edgesync_cli.commands["pair"]
    context = pair.make_context("pair", args[2:])
    assert context.params["fingerprint"] == fp and context.params["token"] == "-"


def test_create_qemu_without_bridge_forwards_the_host_ports(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "rumprun-python"
    outside.mkdir()
    (outside / "python.bin").write_bytes(b"hw_virtio python")
    here = make_dir(tmp_path, platform="qemu", python_version="3.11",
                    python_bin=str(outside / "python.bin"), memory_mb=512, base_port=9000,
                    state_size_mb=64, provider="dropbox")
    code, out, err = run(here, "create", "2", capsys=capsys)
    assert (code, err) == (0, "")

    def golden(index: int, port: int) -> list[str]:
        inst = here / "instances" / f"edgesync-edge-{index}"
        return ["rumprun", "qemu", "-M", "512", "-N", f"edgesync-edge-{index}",
                "-I", f"net0,vioif,-net user,hostfwd=tcp::{port}-:{port}",
                "-W", "net0,inet,dhcp",
                "-b", f"{here}/python.iso,/python/lib/python3.11",
                "-b", f"{here}/main.iso,/python/lib/python3.11/site-packages",
                "-b", f"{inst}/edge.iso,/edge", "-b", f"{inst}/state.img,/state",
                "-e", "PYTHONHOME=/python", "-e", "EDGESYNC_EDGE_DIR=/edge",
                "-e", "EDGESYNC_STATE_DIR=/state", "-e", "EDGESYNC_LOAD_PLUGINS=dropbox",
                "--", f"{outside}/python.bin", "-m", "edgesync.edge"]

    assert calls(fake) == [mke2fs_golden(here, 1, "64M"), golden(1, 9000),
                           mke2fs_golden(here, 2, "64M"), golden(2, 9001)]
    records = state(here)
    pids = [int(pid) for pid in (fake / "pids").read_text().split()]
    assert [records[f"edgesync-edge-{i}"]["id"] for i in (1, 2)] == pids
    assert [records[f"edgesync-edge-{i}"]["user"] for i in (1, 2)] == ["user1", "user2"]
    assert {rec["platform"] for rec in records.values()} == {"qemu"}
    assert f"started as qemu:{pids[0]}" in out
    # plain HTTP on 0.0.0.0 is only allowed behind a TLS-terminating proxy
    toml = (here / "instances" / "edgesync-edge-1" / "edge" / "edge.toml").read_text()
    assert "tls = false" in toml and "behind_proxy = true" in toml
    assert 'name = "dropbox"' in toml and 'root = "/state/cloud/{user}"' in toml
    assert "serves plain HTTP on port 9000" in out


def test_kvm_with_a_bridge_uses_the_bridge_helper(tmp_path: Path) -> None:
    config = LaunchConfig(platform="kvm", python_version="3.5", python_bin="python.bin",
                          python_iso="python.iso", provider="local", bridge="br0")
    inst = Instance(index=3, name="edgesync-edge-3", user="carol", port=8445,
                    folder=tmp_path / "instances" / "edgesync-edge-3")
    assert interface_spec(config, inst) == "net0,vioif,-net bridge,br=br0"
    argv = rumprun_argv(config, inst, here=tmp_path)
    assert argv[:10] == ["rumprun", "kvm", "-M", "256", "-N", "edgesync-edge-3",
                         "-I", "net0,vioif,-net bridge,br=br0", "-W", "net0,inet,dhcp"]
    assert "-i" not in argv


def test_xen_macs_are_distinct_and_depend_on_the_prefix() -> None:
    macs = [xen_mac("edgesync-edge", index) for index in range(1, 2001)]
    assert len(set(macs)) == len(macs)
    assert all(mac.startswith("00:16:3e:8c:") for mac in macs)
    assert xen_mac("edgesync-edge", 258) == "00:16:3e:8c:01:02"
    assert xen_mac("edge", 1) == "00:16:3e:a1:00:01"
    with pytest.raises(ConfigError):
        xen_mac("edge", 0)


# --- dry run -----------------------------------------------------------------------


def test_dry_run_prints_the_real_commands_and_writes_nothing(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="qemu", python_version="3.5")
    before = sorted(p.name for p in here.iterdir())
    code, out, err = run(here, "create", "2", "--user", "ann", "--dry-run", capsys=capsys)
    assert (code, err) == (0, "")
    assert calls(fake) == []
    assert sorted(p.name for p in here.iterdir()) == before  # no instances/, no state
    assert "would prepare the edge folder" in out and "would write" in out
    printed = [shlex.split(line) for line in out.splitlines()
               if line.startswith(("rumprun ", "mke2fs ", "xl "))]

    code, out, err = run(here, "create", "2", "--user", "ann", capsys=capsys)
    assert (code, err) == (0, "")
    assert printed == calls(fake)
    assert len(printed) == 4


def test_dry_run_keeps_existing_state_images_out_of_the_commands(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    assert run(here, "create", "1", capsys=capsys)[0] == 0
    assert run(here, "clean", capsys=capsys)[0] == 0
    logged = len(calls(fake))
    code, out, _ = run(here, "create", "1", "--dry-run", capsys=capsys)
    assert code == 0
    assert calls(fake)[logged:] == []
    assert [line.split()[0] for line in out.splitlines()
            if line.startswith(("rumprun ", "mke2fs "))] == ["rumprun"]
    assert "keeping the state image" in out
    assert state(here) == {}


# --- list ----------------------------------------------------------------------------


def test_list_shows_which_recorded_instances_run(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    code, out, _ = run(here, "list", capsys=capsys)
    assert code == 0 and "no instances recorded" in out
    assert run(here, "create", "2", capsys=capsys)[0] == 0

    xl = json.loads((fake / "xl.json").read_text())
    del xl["domains"]["edgesync-edge-2"]  # it crashed and was removed
    (fake / "xl.json").write_text(json.dumps(xl))
    logged = len(calls(fake))
    code, out, err = run(here, "list", "--json", capsys=capsys)
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [(r["name"], r["id"], r["user"], r["port"], r["running"]) for r in rows] == [
        ("edgesync-edge-1", 17, "user1", 8443, True),
        ("edgesync-edge-2", 18, "user2", 8444, False)]
    assert rows[0]["detail"] == "xl state -b----"
    assert calls(fake)[logged:] == [["xl", "list"]]  # read only

    code, out, _ = run(here, "list", capsys=capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "USER", "PORT", "PLATFORM", "ID", "RUNNING", "CREATED"]
    assert lines[1].split()[:5] == ["edgesync-edge-1", "user1", "8443", "xen", "17"]
    assert lines[2].split()[5] == "no"
    assert "rumprun-other" not in out and "edgesync-edge-9" not in out


# --- clean ---------------------------------------------------------------------------


def test_clean_destroys_exactly_the_recorded_xen_domains(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    assert run(here, "create", "2", capsys=capsys)[0] == 0
    logged = len(calls(fake))
    code, out, err = run(here, "clean", capsys=capsys)
    assert (code, err) == (0, "")
    assert calls(fake)[logged:] == [["xl", "list"], ["xl", "destroy", "edgesync-edge-1"],
                                    ["xl", "destroy", "edgesync-edge-2"]]
    assert domains(fake) == FOREIGN  # rumprun-other and edgesync-edge-9 untouched
    assert state(here) == {}
    for index in (1, 2):  # kept for the next create
        assert (here / "instances" / f"edgesync-edge-{index}" / "state.img").exists()
    assert "xl destroy edgesync-edge-1" in out

    logged = len(calls(fake))
    code, out, _ = run(here, "clean", capsys=capsys)
    assert code == 0 and "no instances recorded" in out
    assert [argv for argv in calls(fake)[logged:] if argv[:2] == ["xl", "destroy"]] == []


def test_clean_forgets_a_recorded_domain_that_is_gone(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    assert run(here, "create", "1", capsys=capsys)[0] == 0
    xl = json.loads((fake / "xl.json").read_text())
    del xl["domains"]["edgesync-edge-1"]
    (fake / "xl.json").write_text(json.dumps(xl))
    code, out, _ = run(here, "clean", "--dry-run", capsys=capsys)
    assert code == 0 and "not running" in out and state(here) != {}
    code, out, _ = run(here, "clean", capsys=capsys)
    assert code == 0 and "edgesync-edge-1: not running" in out
    assert [argv for argv in calls(fake) if argv[:2] == ["xl", "destroy"]] == []
    assert state(here) == {}


def test_clean_stops_only_our_qemu_processes(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="kvm", python_version="3.5")
    assert run(here, "create", "2", capsys=capsys)[0] == 0
    ours = [state(here)[f"edgesync-edge-{i}"]["id"] for i in (1, 2)]
    # A record whose pid now belongs to another program must not be signalled.
    foreign = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(60)"])
    try:
        path = here / "instances" / "state.json"
        data = json.loads(path.read_text())
        data["instances"]["edgesync-edge-3"] = {
            "name": "edgesync-edge-3", "platform": "kvm", "id": foreign.pid, "user": "user3",
            "port": 8445, "created": "2025-01-01T00:00:00+00:00"}
        path.write_text(json.dumps(data))

        rows = {row["name"]: row["running"]
                for row in json.loads(run(here, "list", "--json", capsys=capsys)[1])}
        assert rows == {"edgesync-edge-1": True, "edgesync-edge-2": True,
                        "edgesync-edge-3": False}

        code, out, _ = run(here, "clean", "--dry-run", capsys=capsys)
        assert code == 0 and f"kill -TERM {ours[0]}" in out
        assert not any(gone(pid) for pid in ours)

        code, out, err = run(here, "clean", capsys=capsys)
        assert (code, err) == (0, "")
        assert all(gone(pid) for pid in ours)
        assert foreign.poll() is None  # still running
        assert f"kill -TERM {foreign.pid}" not in out
        assert state(here) == {}
    finally:
        foreign.kill()
        foreign.wait()


# --- state images and purge ------------------------------------------------------------


def test_create_after_clean_reuses_state_images_and_tokens(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    assert run(here, "create", "2", "--user", "alice", capsys=capsys)[0] == 0
    inst = here / "instances" / "edgesync-edge-1"
    (inst / "state.img").write_bytes(b"alice's versions")
    token = (inst / "token").read_text()
    assert run(here, "clean", capsys=capsys)[0] == 0

    logged = len(calls(fake))
    code, out, err = run(here, "create", "2", capsys=capsys)  # users come from the folders
    assert (code, err) == (0, "")
    assert f"edgesync-edge-1: keeping the state image {inst / 'state.img'}" in out
    again = calls(fake)[logged:]
    assert [argv[0] for argv in again] == ["rumprun", "rumprun"]
    assert again[0] == xen_golden(here, 1, "00:16:3e:8c:00:01")
    assert (inst / "state.img").read_bytes() == b"alice's versions"
    assert (inst / "token").read_text() == token
    assert state(here)["edgesync-edge-1"]["user"] == "alice"
    assert state(here)["edgesync-edge-1"]["id"] == 19

    code, _, err = run(here, "create", "1", "--user", "bob", capsys=capsys)
    assert code == 2 and "already serves user 'alice'" in err


def test_create_skips_instances_that_run(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    assert run(here, "create", "1", capsys=capsys)[0] == 0
    logged = len(calls(fake))
    code, out, _ = run(here, "create", "2", capsys=capsys)
    assert code == 0
    assert "edgesync-edge-1: already running" in out
    assert [argv[:6] for argv in calls(fake)[logged:] if argv[0] == "rumprun"] == [
        ["rumprun", "xen", "-M", "256", "-N", "edgesync-edge-2"]]
    assert state(here)["edgesync-edge-1"]["id"] == 17


def test_purge_deletes_the_instance_folders(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    assert run(here, "create", "2", capsys=capsys)[0] == 0
    # A folder named like an instance whose domain runs unrecorded is kept.
    (here / "instances" / "edgesync-edge-9").mkdir()
    root = here / "instances"

    code, out, _ = run(here, "clean", "--purge", "--dry-run", capsys=capsys)
    assert code == 0
    assert f"would delete {root / 'edgesync-edge-1'}" in out
    assert (root / "edgesync-edge-1" / "state.img").exists()
    assert set(domains(fake)) > {"edgesync-edge-1", "edgesync-edge-2"}

    code, out, err = run(here, "clean", "--purge", capsys=capsys)
    assert (code, err) == (0, "")
    assert f"deleted {root / 'edgesync-edge-1'}" in out
    assert f"deleted {root / 'edgesync-edge-2'}" in out
    assert f"kept {root / 'edgesync-edge-9'}" in out
    assert sorted(p.name for p in root.iterdir()) == ["edgesync-edge-9"]
    assert domains(fake) == FOREIGN


# --- refusals and failures ----------------------------------------------------------------


def test_xen_without_a_bridge_is_refused(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match='"bridge" is required on Xen'):
        LaunchConfig(platform="xen", python_version="3.5", python_bin="python.bin",
                     python_iso="python.iso", provider="local")
    here = make_dir(tmp_path, platform="qemu", python_version="3.5")
    settings = json.loads((here / "launch.json").read_text())
    settings["platform"] = "xen"
    (here / "launch.json").write_text(json.dumps(settings))
    code, out, err = run(here, "create", "1", "--dry-run", capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith("edgesync-pack: ") and '"bridge" is required on Xen' in err
    assert calls(fake) == [] and not (here / "instances").exists()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_missing_python_bin_is_refused_before_anything_starts(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str], dry_run: bool) -> None:
    here = make_dir(tmp_path, platform="qemu", python_version="3.5")
    (here / "python.bin").unlink()
    code, out, err = run(here, "create", "2", *(["--dry-run"] if dry_run else []),
                         capsys=capsys)
    assert code == 2 and out == ""
    assert err == (f"edgesync-pack: python_bin {here / 'python.bin'} not found: copy it "
                   f'there, or set "python_bin" in {here / "launch.json"} to where it is\n')
    assert calls(fake) == [] and not (here / "instances").exists()


def test_a_failed_rumprun_exits_1_and_records_nothing(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    here = make_dir(tmp_path, platform="xen", python_version="3.5", bridge="xenbr0")
    monkeypatch.setenv("FAKE_RUMPRUN_FAIL", "1")
    code, _, err = run(here, "create", "1", capsys=capsys)
    assert code == 1
    assert err.startswith("edgesync-pack: rumprun xen -M 256")
    assert "rumprun: error: xl create failed" in err
    assert not (here / "instances" / "state.json").exists()


def test_paths_rumprun_cannot_pass_are_refused(
        tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = make_dir(tmp_path, platform="qemu", python_version="3.5")
    spaced = tmp_path / "my images"
    spaced.mkdir()
    (spaced / "main.iso").write_bytes(b"x")
    settings = json.loads((here / "launch.json").read_text())
    settings["main_iso"] = str(spaced / "main.iso")
    (here / "launch.json").write_text(json.dumps(settings))
    code, _, err = run(here, "create", "1", capsys=capsys)
    assert code == 2 and "rumprun cannot pass the path" in err and "my images" in err
    assert calls(fake) == []


# --- settings and help -------------------------------------------------------------------


def test_settings_round_trip_and_defaults(tmp_path: Path) -> None:
    config = LaunchConfig(platform="kvm", python_version="3.11", python_bin="/opt/python.bin",
                          python_iso="python.iso", provider="dropbox", names=["a.example"],
                          provider_options={"root": "/{user}"}, bridge="br0")
    config.dump(tmp_path / "launch.json")
    loaded = LaunchConfig.load(tmp_path / "launch.json")
    assert loaded == config
    data = json.loads((tmp_path / "launch.json").read_text())
    assert data["names"] == ["a.example"]
    assert (data["main_iso"], data["memory_mb"], data["base_port"], data["prefix"],
            data["plain_http"], data["state_size_mb"]) == (
        "main.iso", 256, 8443, "edgesync-edge", False, 256)
    assert config.path("python_bin", tmp_path) == Path("/opt/python.bin")
    assert config.path("main_iso", tmp_path) == tmp_path / "main.iso"


@pytest.mark.parametrize(("change", "message"), [
    ({"platform": "hvf"}, '"platform" must be one of xen, kvm, qemu'),
    ({"python_version": "3"}, '"python_version" must look like "3.5"'),
    ({"memory_mb": "256"}, '"memory_mb" must be a whole number'),
    ({"base_port": 70000}, '"base_port" must be from 1 to 65535'),
    ({"names": "edge.example"}, '"names" must be a list'),
    ({"plain_http": "yes"}, '"plain_http" must be true or false'),
    ({"provider": "a,b"}, '"provider" must be a provider plugin'),
    ({"provider_options": {"x": {"y": 1}}}, "option 'x' must have"),
    ({"prefix": "bad prefix"}, '"prefix" must be'),
    ({"bridge": "br0,mac=1"}, '"bridge" must be a network bridge name'),
    ({"colour": "red"}, "unknown key(s) 'colour'"),
    ({"python_iso": None}, '"python_iso" must be a non-empty string'),
])
def test_bad_settings_name_the_key(tmp_path: Path, change: dict[str, Any],
                                   message: str) -> None:
    data = {"platform": "qemu", "python_version": "3.5", "python_bin": "python.bin",
            "python_iso": "python.iso", "provider": "local", **change}
    path = tmp_path / "launch.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        LaunchConfig.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_settings_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "launch.json"
    path.write_text(json.dumps({"platform": "qemu", "python_version": "3.5",
                                "python_bin": "python.bin", "provider": "local"}))
    with pytest.raises(ConfigError, match='"python_iso" is missing'):
        LaunchConfig.load(path)
    code, _, err = run(tmp_path / "nowhere", "list", capsys=capsys)
    assert code == 2 and "launch.json does not exist" in err


def test_help_teaches_with_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, "--help", capsys=capsys)
    assert code == 0
    assert "examples:" in out and "./launch create 2 --user alice --user bob" in out
    assert "clean --purge" in out
    code, out, _ = run(tmp_path, "create", "--help", capsys=capsys)
    assert code == 0 and "--dry-run" in out and "PREFIX-I" in out
    code, _, err = run(tmp_path, "create", "four", capsys=capsys)
    assert code == 2 and "invalid int value: 'four'" in err
    code, _, err = run(tmp_path, "start", capsys=capsys)
    assert code == 2 and "invalid choice" in err

