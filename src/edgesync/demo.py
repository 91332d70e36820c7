"""``make demo``: a whole sync on this machine, and what each save costs on the wire.

Starts an edge on loopback (HTTPS with a fresh self-signed certificate, the
``local`` provider with a temporary folder as the cloud), pairs an agent with
a temporary device folder, and replays an editing session: a Word document, a
spreadsheet, a slide deck, an OpenDocument text and a plain-text file are
created and saved several times (a character typed, a paragraph added, a cell
changed, an image replaced; each save written by the library that made the
file, so the whole container is rewritten, as an office program does). Every
save is pushed through the agent exactly as ``edgesync watch`` would, and the
table shows the bytes sent, the file's size, the saving and the time. At the
end every cloud file is compared with the device's bytes (or, when the delta
said so, with the canonical rebuild both sides agreed on); the exit status is
non-zero if any differs.

Run it as ``edgesync demo`` or ``python -m edgesync.demo`` (needs
``edgesync[test]`` for the document libraries).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from edgesync.testing import documents as docs

#: (file name, how to make it, how to edit it, the edits saved one after another)
SESSION: list[tuple[str, Callable[[], bytes], Callable[..., bytes], tuple[str, ...]]] = [
    ("Reports/q3 report.docx", lambda: docs.make_docx(120, images=2), docs.edit_docx,
     ("type", "type", "paragraph", "image", "delete")),
    ("Reports/orders.xlsx", lambda: docs.make_xlsx(3000), docs.edit_xlsx,
     ("cell", "cell", "row", "scattered")),
    ("pitch.pptx", lambda: docs.make_pptx(12), docs.edit_pptx, ("type", "bullet", "slide")),
    ("notes.odt", lambda: docs.make_odt(80), docs.edit_odt, ("type", "paragraph", "delete")),
    ("todo.txt", lambda: docs.make_text(2000), docs.edit_text, ("type", "paragraph", "delete")),
]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _size(n: int) -> str:
    return f"{n:,}"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="edgesync demo",
        description="Run an edge and an agent on this machine and replay an editing session.",
        epilog="Example: edgesync demo")
    parser.add_argument("--provider", default="local",
                        help="the provider the edge uploads through (default: local)")
    parser.add_argument("--keep", action="store_true", help="keep the demo's folders")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="edgesync-demo-"))
    try:
        with _cloud(args.provider, work) as cloud:
            if cloud is None:
                print(f"edgesync demo: no demo cloud for the provider {args.provider!r}: use "
                      "'local', 'dropbox' (with edgesync-dropbox installed) or 'onedrive' "
                      "(with edgesync-onedrive)", file=sys.stderr)
                return 3
            return _run(work, cloud)
    finally:
        if args.keep:
            print(f"\nThe demo's folders are kept in {work}: edge/, cloud/, device/, agent/")
        else:
            shutil.rmtree(work, ignore_errors=True)


class _Cloud:
    """Where the demo's edge uploads, and how the demo reads it back."""

    def __init__(self, name: str, options: dict, where: str,
                 read: Callable[[str], bytes | None]) -> None:
        self.name, self.options, self.where, self.read = name, options, where, read


@contextlib.contextmanager
def _cloud(provider: str, work: Path) -> Iterator[_Cloud | None]:
    """The demo's cloud: a folder (``local``) or a Dropbox emulator on loopback."""
    if provider == "local":
        root = work / "cloud"

        def read_local(rel: str) -> bytes | None:
            return (root / rel).read_bytes() if (root / rel).is_file() else None

        yield _Cloud("local", {"root": str(root)}, f"{root}  (the local provider)", read_local)
    elif provider == "dropbox":
        try:
            from edgesync_dropbox.testing import DropboxEmulator
        except ImportError:
            yield None
            return
        with DropboxEmulator() as emulator:
            token_file = work / "dropbox.json"
            token_file.write_text(json.dumps({"app_key": emulator.app_key,
                                              "refresh_token": emulator.link_account()}))
            yield _Cloud("dropbox", {"app_key": emulator.app_key,
                                     "token_file": str(token_file), "emulator": emulator.url},
                         f"{emulator.url}  (a Dropbox API emulator, through the real SDK)",
                         lambda rel: emulator.file("/" + rel))
    elif provider == "onedrive":
        try:
            from edgesync_onedrive.auth import sign_in
            from edgesync_onedrive.testing import OneDriveEmulator
        except ImportError:
            yield None
            return
        with OneDriveEmulator() as emulator:
            cache = work / "onedrive.json"
            sign_in(emulator.client_id, cache, session=emulator.session(),
                    say=lambda text: None)
            yield _Cloud("onedrive", {"client_id": emulator.client_id,
                                      "token_cache": str(cache), "emulator": emulator.url},
                         f"{emulator.url}  (Graph and sign-in emulators, through MSAL)",
                         emulator.file)
    else:
        yield None


def _run(work: Path, cloud: _Cloud) -> int:
    from edgesync.agent import Agent, EdgeClient
    from edgesync.edge import EdgeConfig, EdgeServer, TokenStore
    from edgesync.tls import create_certificate

    started = time.perf_counter()
    edge_dir, device = work / "edge", work / "device"
    create_certificate(edge_dir / "tls" / "cert.pem", edge_dir / "tls" / "key.pem")
    config = EdgeConfig.from_mapping(
        {"server": {"listen": "127.0.0.1:0"},
         "provider": {"name": cloud.name, "options": cloud.options}}, edge_dir)
    token, _ = TokenStore(config.tokens_path).add("me", label="demo")
    access_log = io.StringIO()
    with EdgeServer(config, log_stream=access_log) as server:
        print(f"edge   {server.url}  (certificate {server.fingerprint[:23]}...)")
        print(f"cloud  {cloud.where}")
        print(f"device {device}\n")
        device.mkdir()
        agent = Agent(device, work / "agent",
                      EdgeClient(server.url, token, fingerprint=server.fingerprint))
        header = f"{'save':<38} {'sent':>9} {'file':>10} {'saved':>7} {'time':>7}  how"
        print(header)
        print("-" * len(header))
        sent_total = size_total = saves = 0
        for name, make, edit, edits in SESSION:
            path = device / name
            path.parent.mkdir(parents=True, exist_ok=True)
            content = make()
            for step, kind in enumerate(("created", *edits)):
                if step:
                    content = edit(content, kind, seed=step)
                path.write_bytes(content)
                result = agent.push(path)
                saves += 1
                sent_total += result.sent
                size_total += result.size
                label = f"{name} ({kind})"
                how = result.mode + ("" if result.state == "uploaded" else f", {result.state}")
                print(f"{label:<38} {_size(result.sent):>9} {_size(result.size):>10} "
                      f"{result.saving:>7.1%} {result.seconds * 1000:>5.0f}ms  {how}")
        print("-" * len(header))
        print(f"{f'{saves} saves':<38} {_size(sent_total):>9} {_size(size_total):>10} "
              f"{1 - sent_total / size_total:>7.1%}")
        edits_only = [line for line in access_log.getvalue().splitlines() if '"PATCH"' in line]
        print(f"\n{len(edits_only)} saves went as deltas; whole-file uploads are the first "
              "save of each file")
        return _verify(agent, device, cloud, time.perf_counter() - started)


def _verify(agent, device: Path, cloud: _Cloud, elapsed: float) -> int:
    """Compare every cloud file with the device's (or the agreed canonical) bytes."""
    exact = canonical = wrong = 0
    for path in sorted(p for p in device.rglob("*") if p.is_file()):
        rel = path.relative_to(device).as_posix()
        mine = path.read_bytes()
        theirs = cloud.read(rel)
        record = agent.shadow.get(rel)
        if theirs == mine:
            exact += 1
        elif (theirs is not None and record is not None
              and record.source_sha256 == _sha256(mine) and record.sha256 == _sha256(theirs)):
            canonical += 1  # the delta said so: the edge rebuilt the canonical bytes
        else:
            wrong += 1
            print(f"MISMATCH: {rel}: the cloud does not hold the device's version",
                  file=sys.stderr)
    total = exact + canonical + wrong
    if wrong:
        print(f"\n{wrong} of {total} cloud files differ from the device", file=sys.stderr)
        return 1
    print(f"All {total} cloud files match the device ({exact} byte for byte, {canonical} as "
          f"the canonical rebuild the delta announced). {elapsed:.1f} s in all.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
