"""``edgesync-pack rumprun`` for real: the ISO carries everything the edge needs.

One build per module (about 6 s): the real command vendors the edge and the
OneDrive plugin (msal without ``cryptography``). Then the image is extracted
into the layout rumprun mounts (``python/lib/python3.X/site-packages``), and
the edge runs from it with ``python -I -S``: only the standard library and
the extracted tree on ``sys.path``, and every extension module that
rumprun's static Python lacks made unimportable. The agent pushes a document
and then a delta to it over HTTPS on loopback; the edge uploads through the
vendored plugin and SDK to the OneDrive emulator; afterwards the probe's
report shows that no module came from anywhere else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from edgesync_onedrive.auth import sign_in
from edgesync_onedrive.testing import OneDriveEmulator
from edgesync_pack_rumprun.iso import extract_iso, read_iso

from edgesync.agent import Agent, EdgeClient
from edgesync.edge.setup import init_edge
from edgesync.edge.tokens import TokenStore
from edgesync.pack.checks import RUMPRUN_STATIC_MODULES, blocked_extensions, probe_argv, read_probe
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.testing.edge import read_serving

PACK = str(Path(sys.executable).with_name("edgesync-pack"))
VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _pack(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PACK, "rumprun", "--provider", "onedrive", "--out", str(out),
                           "--python-version", VERSION, *extra],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rumprun") / "out"
    done = _pack(out)
    assert done.returncode == 0, done.stderr
    return out


def test_the_manifest_describes_the_image(build: Path):
    manifest = json.loads((build / "manifest.json").read_text())
    entries = read_iso(build / "main.iso")
    files = {name: entry for name, entry in entries.items() if not entry.is_dir}
    assert set(manifest["files"]) == set(files)
    import hashlib

    assert all(hashlib.sha256(files[name].data).hexdigest() == digest
               for name, digest in manifest["files"].items())
    assert {"edgesync", "edgesync-onedrive", "msal", "requests", "cheroot"} <= set(
        manifest["distributions"])
    assert "cryptography" in manifest["left_out"] and "click" in manifest["left_out"]
    assert not any(name.endswith((".so", ".pth")) for name in files)
    checks = manifest["checks"]
    assert checks["imported_from_tree_alone"] is True
    assert set(checks["extension_modules_used"]) <= set(checks["builtin_modules"])
    assert manifest["image"]["mount"] == f"/python/lib/python{VERSION}/site-packages"
    assert (build / "launch").stat().st_mode & 0o111
    help_text = subprocess.run([str(build / "launch"), "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "create" in help_text and "clean" in help_text


def test_the_same_inputs_give_the_same_image(build: Path, tmp_path: Path):
    again = tmp_path / "again"
    done = _pack(again)
    assert done.returncode == 0, done.stderr
    assert (again / "main.iso").read_bytes() == (build / "main.iso").read_bytes()
    assert (again / "manifest.json").read_text() == (build / "manifest.json").read_text()


def test_a_python_the_edge_cannot_run_is_refused_before_anything_is_written(tmp_path: Path):
    done = _pack(tmp_path / "old", "--python-version", "3.5")
    assert done.returncode == 2
    assert "needs Python 3.11 or newer" in done.stderr and "CPython 3.5.2" in done.stderr
    assert "edgesync-pack docker" in done.stderr
    assert not (tmp_path / "old").exists()


def test_the_edge_runs_from_the_image_alone_and_a_delta_reaches_onedrive(build: Path,
                                                                        tmp_path: Path):
    root = tmp_path / "unikernel"
    (root / "python" / "lib" / f"python{VERSION}").mkdir(parents=True)
    site = root / "python" / "lib" / f"python{VERSION}" / "site-packages"
    extract_iso(build / "main.iso", site)

    with OneDriveEmulator() as emulator:
        cache = tmp_path / "edge" / "onedrive.json"
        cache.parent.mkdir()
        sign_in(emulator.client_id, cache, session=emulator.session(), say=lambda text: None)
        edge_dir = tmp_path / "edge"
        init_edge(edge_dir, listen="127.0.0.1:0", provider="onedrive", options={
            "client_id": emulator.client_id, "token_cache": str(cache), "root": "Edge",
            "emulator": emulator.url})
        token, _ = TokenStore(edge_dir / "tokens.json").add("me")

        report = tmp_path / "report.json"
        argv = probe_argv(site, report, blocked=blocked_extensions(RUMPRUN_STATIC_MODULES),
                          run=["edgesync.edge", "--dir", str(edge_dir),
                               "--state", str(tmp_path / "state")])
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=tmp_path,
                                   env={"PATH": os.environ["PATH"],
                                        "EDGESYNC_LOAD_PLUGINS": "onedrive"})
        try:
            url, fingerprint = read_serving(process)
            (tmp_path / "device").mkdir()
            agent = Agent(tmp_path / "device", tmp_path / "agent",
                          EdgeClient(url, token, fingerprint=fingerprint, retries=1))
            doc = tmp_path / "device" / "report.docx"
            base = make_docx(40, seed=3)
            doc.write_bytes(base)
            first = agent.push(doc)
            edited = edit_docx(base, "type", seed=4)
            doc.write_bytes(edited)
            second = agent.push(doc)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
        assert (first.mode, first.state) == ("full", "uploaded"), err
        assert (second.mode, second.state) == ("delta", "uploaded"), err
        assert second.sent < len(edited) // 50
        assert emulator.file("Edge/report.docx") == edited

    loaded = read_probe(report, process.returncode, err)
    assert process.returncode == 0, err
    assert loaded.outside == [], "modules from outside the image and the standard library"
    assert set(loaded.extensions) <= RUMPRUN_STATIC_MODULES
    tree_modules = {name for name, info in loaded.modules.items() if info["where"] == "tree"}
    assert {"edgesync.edge.server", "edgesync_onedrive.provider", "msal", "cheroot"} <= tree_modules
    assert not {"cryptography", "click", "_json", "_hashlib"} & set(loaded.modules)
