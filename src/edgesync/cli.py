"""The ``edgesync`` command.

Exit codes (the same for every subcommand):

- 0: done.
- 1: the operation failed (the message says why and what to do).
- 2: the command line was wrong (click's usage errors).
- 3: the configuration or a plugin is wrong (fix it, then run again).

Every subcommand with output takes ``--json`` for scripts.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, NoReturn

import click

from edgesync import __version__
from edgesync.errors import ConfigError, EdgesyncError, PluginError

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_CONFIG = 3


def default_edge_dir() -> Path:
    """``$EDGESYNC_EDGE_DIR``, else ``edge`` in the platform's data folder for edgesync."""
    if os.environ.get("EDGESYNC_EDGE_DIR"):
        return Path(os.environ["EDGESYNC_EDGE_DIR"])
    import platformdirs

    return platformdirs.user_data_path("edgesync") / "edge"


def _fail(error: EdgesyncError, as_json: bool = False) -> NoReturn:
    if as_json:
        click.echo(json.dumps(error.to_dict()))
    else:
        click.echo(f"edgesync: {error.message}", err=True)
    sys.exit(EXIT_CONFIG if isinstance(error, (ConfigError, PluginError)) else EXIT_FAILED)


def _emit(data: Any, text: str, as_json: bool) -> None:
    click.echo(json.dumps(data, indent=1) if as_json else text)


_dir_option = click.option(
    "--dir", "edge_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The edge's folder (default: $EDGESYNC_EDGE_DIR, else the platform's data folder).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgesync")
def main() -> None:
    """Low-bandwidth document sync through a per-user edge.

    A device sends only a small delta of each saved file to its edge; the edge
    rebuilds the file, checks it, and uploads it whole to the cloud.

    \b
    Set up and run an edge:
      edgesync edge init ~/edge           # certificate, config, prints the fingerprint
      edgesync edge token add me          # a device token, shown once
      edgesync serve --dir ~/edge

    \b
    On a device:
      edgesync pair https://EDGE:8443 --root ~/Documents
      edgesync watch                      # or: edgesync push FILE...
      edgesync status

    \b
    Try it all on this machine: edgesync demo
    Exit codes: 0 done, 1 failed, 2 bad command line, 3 configuration or plugin problem.
    """


# --- the edge -------------------------------------------------------------------


@main.command()
@_dir_option
@click.option("--listen", metavar="HOST:PORT",
              help="Address to listen on (overrides server.listen; port 0 = any free port).")
@click.option("--threads", type=click.IntRange(1, 1024),
              help="Worker threads, i.e. requests served at once (overrides server.threads).")
@click.option("--plain-http", is_flag=True,
              help="Serve HTTP, not HTTPS: only on a loopback address, or with "
                   "server.behind_proxy = true behind a TLS-terminating proxy.")
@click.option("--access-log", metavar="FILE", help="Append JSON access-log lines here "
              "('-' = standard error; overrides server.access_log).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="EDGESYNC_STATE_DIR",
              help="Keep the versions here instead of in DIR, which may then be read-only "
                   "(a mounted secret). Default: $EDGESYNC_STATE_DIR, else DIR.")
def serve(edge_dir: Path | None, listen: str | None, threads: int | None, plain_http: bool,
          access_log: str | None, state_dir: Path | None) -> None:
    """Run the edge until stopped (Ctrl-C or SIGTERM).

    Reads DIR/edge.toml (made by 'edgesync edge init'), serves the HTTP API
    (docs/edge-api.md) over HTTPS with the edge's own certificate, and uploads
    every received version to the configured provider. Versions that cannot
    be uploaded yet are kept and retried, also after a restart.

    \b
    Example:
      edgesync serve --dir ~/edge --listen 0.0.0.0:8443
    """
    from edgesync.edge.server import run

    sys.exit(run(edge_dir or default_edge_dir(), listen=listen, threads=threads,
                 plain_http=plain_http, access_log=access_log, state_dir=state_dir))


@main.group()
def edge() -> None:
    """Set up an edge: its folder, certificate and device tokens."""


@edge.command("init")
@click.argument("edge_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(["personal", "multi-user"]), default="personal",
              show_default=True, help="One user per edge, or many.")
@click.option("--user", default="me", show_default=True, help="Personal mode: the user's name.")
@click.option("--listen", default="0.0.0.0:8443", show_default=True, metavar="HOST:PORT",
              help="Address the edge will listen on.")
@click.option("--provider", default="local", show_default=True, metavar="NAME",
              help="Where files go: 'local' or an installed plugin ('edgesync plugins').")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A provider option (repeatable); '{user}' is replaced by each user's "
                   "name. 'edgesync plugins' names the providers; their options are in "
                   "docs/edge-api.md and the plugins' READMEs.")
@click.option("--cloud", type=click.Path(file_okay=False, path_type=Path),
              help="For the local provider: the folder that plays the cloud "
                   "(default: DIR/cloud, per user in multi-user mode).")
@click.option("--name", "names", multiple=True, metavar="HOST",
              help="A host name or IP address devices use to reach the edge (repeatable; "
                   "recorded in the certificate).")
@click.option("--plain-http", is_flag=True, help="Write tls = false (loopback or proxy only).")
@_json_option
def edge_init(edge_dir: Path | None, mode: str, user: str, listen: str, provider: str,
              options: tuple[str, ...], cloud: Path | None, names: tuple[str, ...],
              plain_http: bool, as_json: bool) -> None:
    """Create an edge: DIR/edge.toml, a self-signed certificate, and folders.

    Prints the certificate's SHA-256 fingerprint: devices pin it when they
    pair. Refuses to touch a folder that already holds an edge.

    \b
    Example:
      edgesync edge init ~/edge --name edge.home.arpa
      edgesync edge init /srv/edge --mode multi-user --cloud /srv/clouds
      edgesync edge init ~/edge --provider dropbox --option app_key=KEY \
          --option token_file=/srv/edge/dropbox.json
    """
    from edgesync.edge.config import CONFIG_NAME
    from edgesync.edge.setup import init_edge, parse_option_items
    from edgesync.plugins import PluginHost

    folder = (edge_dir or default_edge_dir()).expanduser().resolve()
    try:
        table = parse_option_items(options)
        if provider == "local":
            root = (cloud.expanduser().resolve() if cloud else folder / "cloud")
            table.setdefault("root", str(root / "{user}") if mode == "multi-user"
                             else str(root))
        elif cloud is not None:
            raise ConfigError("--cloud is for the local provider; give the provider's own "
                              "options with --option KEY=VALUE")
        PluginHost().load().check_options(provider, table)
        fp = init_edge(folder, mode=mode, user=user, listen=listen, plain_http=plain_http,
                       names=names, provider=provider, options=table)
    except EdgesyncError as exc:
        _fail(exc, as_json)
    config_path = folder / CONFIG_NAME
    data = {"dir": str(folder), "config": str(config_path), "fingerprint": fp}
    lines = [f"Created the edge in {folder}", f"  configuration: {config_path}"]
    if fp:
        lines.append(f"  certificate fingerprint (SHA-256): {fp}")
    lines += ["Next:", f"  edgesync edge token add {user} --dir {folder}",
              f"  edgesync serve --dir {folder}"]
    _emit(data, "\n".join(lines), as_json)


@edge.command("fingerprint")
@_dir_option
@_json_option
def edge_fingerprint(edge_dir: Path | None, as_json: bool) -> None:
    """Print the SHA-256 fingerprint of the edge's certificate (what devices pin)."""
    from edgesync.edge.config import EdgeConfig
    from edgesync.tls import fingerprint

    try:
        config = EdgeConfig.load(edge_dir or default_edge_dir())
        try:
            fp = fingerprint(config.cert_path.read_text("ascii"))
        except OSError as exc:
            raise ConfigError(f"{config.cert_path}: {exc.strerror}") from exc
    except EdgesyncError as exc:
        _fail(exc, as_json)
    _emit({"fingerprint": fp}, fp, as_json)


@edge.group()
def token() -> None:
    """Create, list and revoke device tokens."""


def _tokens(edge_dir: Path | None) -> tuple[Any, Any]:
    from edgesync.edge.config import EdgeConfig
    from edgesync.edge.tokens import TokenStore

    config = EdgeConfig.load(edge_dir or default_edge_dir())
    return config, TokenStore(config.tokens_path)


@token.command("add")
@click.argument("user")
@click.option("--label", default="", help="A note, e.g. the device's name.")
@_dir_option
@_json_option
def token_add(user: str, label: str, edge_dir: Path | None, as_json: bool) -> None:
    """Create a bearer token for USER and print it once.

    The edge keeps only the token's SHA-256; copy the token to the device
    now ('edgesync pair' asks for it). A running edge accepts it at once.

    \b
    Example:
      edgesync edge token add me --label "work laptop"
    """
    try:
        config, store = _tokens(edge_dir)
        if config.mode == "personal" and user != config.user:
            raise ConfigError(f"this edge is in personal mode for {config.user!r}; a token for "
                              f"{user!r} would never be accepted")
        secret, info = store.add(user, label=label)
    except EdgesyncError as exc:
        _fail(exc, as_json)
    _emit({"token": secret, "id": info.id, "user": info.user, "label": info.label},
          textwrap.dedent(f"""\
              Token for {user} (id {info.id}); it is shown only this once:

                {secret}
              """), as_json)


@token.command("list")
@_dir_option
@_json_option
def token_list(edge_dir: Path | None, as_json: bool) -> None:
    """List tokens (ids, users, labels; never the tokens themselves)."""
    import datetime

    try:
        _, store = _tokens(edge_dir)
        tokens = store.list()
    except EdgesyncError as exc:
        _fail(exc, as_json)
    rows = [f"{t.id}  {t.user:<16} "
            f"{datetime.datetime.fromtimestamp(t.created).strftime('%Y-%m-%d %H:%M')}  {t.label}"
            for t in tokens]
    _emit([{"id": t.id, "user": t.user, "label": t.label, "created": t.created}
           for t in tokens], "\n".join(rows) or "no tokens", as_json)


@token.command("revoke")
@click.argument("token_id")
@_dir_option
@_json_option
def token_revoke(token_id: str, edge_dir: Path | None, as_json: bool) -> None:
    """Revoke the token with id TOKEN_ID (see 'edgesync edge token list').

    A running edge refuses it from the next request on.
    """
    try:
        _, store = _tokens(edge_dir)
        info = store.revoke(token_id)
    except EdgesyncError as exc:
        _fail(exc, as_json)
    _emit({"revoked": info.id, "user": info.user},
          f"Revoked token {info.id} of {info.user}", as_json)


# --- sign-in to clouds ---------------------------------------------------------------


class _AuthGroup(click.Group):
    """``edgesync auth``: its subcommands come from plugins, loaded on demand."""

    def _plugin_commands(self) -> dict[str, Any]:
        from edgesync.plugins import PluginHost

        try:
            return PluginHost().load().auth_commands()  # type: ignore[return-value]
        except EdgesyncError as exc:
            _fail(exc)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._plugin_commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._plugin_commands().get(name)


@main.group(cls=_AuthGroup)
def auth() -> None:
    """Link a cloud account for the edge (each provider plugin adds its command).

    The built-in 'local' provider needs no sign-in. Installed plugins add
    theirs, e.g. 'edgesync auth dropbox' from edgesync-dropbox.
    """


# --- plugins -----------------------------------------------------------------------


@main.command()
@_json_option
def plugins(as_json: bool) -> None:
    """List installed plugins and what they provide.

    EDGESYNC_LOAD_PLUGINS (comma-separated distributions or names; empty for
    none) limits which installed plugins load; EDGESYNC_DISABLE_PLUGINS blocks
    names.
    """
    from edgesync.plugins import PluginHost

    try:
        host = PluginHost().load()
        providers, hashes = host.providers(), host.hash_types()
        targets = host.pack_targets()
    except EdgesyncError as exc:
        _fail(exc, as_json)
    data = {"plugins": host.distributions, "failed": host.failures,
            "providers": {name: spec.description for name, spec in providers.items()},
            "hash_types": {name: spec.description for name, spec in hashes.items()},
            "pack_targets": {name: spec.summary for name, spec in targets.items()}}
    lines = ["Providers:", *(f"  {n:<12} {s.description}" for n, s in sorted(providers.items())),
             "Hash types:", *(f"  {n:<12} {s.description}" for n, s in sorted(hashes.items())),
             "Pack targets (edgesync-pack):",
             *(f"  {n:<12} {s.summary}" for n, s in sorted(targets.items())),
             "Plugins:", *(f"  {n:<12} {d}" for n, d in sorted(host.distributions.items()))]
    lines += [f"  {n:<12} FAILED: {why}" for n, why in sorted(host.failures.items())]
    _emit(data, "\n".join(lines), as_json)


# --- the device: pair, push, watch, status ------------------------------------------

_config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="The agent's configuration (default: $EDGESYNC_CONFIG, else agent.toml in the "
         "platform's config folder).")


def _console() -> Any:
    """A rich console on a terminal, else None (plain lines for pipes and logs)."""
    if not sys.stdout.isatty():
        return None
    from rich.console import Console

    return Console()


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _result_line(result: Any) -> str:
    if result.mode == "unchanged":
        return f"{result.path}: unchanged, nothing sent"
    if result.mode == "queued":
        return f"{result.path}: the edge is unreachable; queued ({result.error})"
    if result.mode == "deleted":
        return f"{result.path}: deleted at the edge and in the cloud"
    text = (f"{result.path}: {result.mode} {_size(result.sent)} of {_size(result.size)} "
            f"({result.saving:.1%} saved), {result.state}, {result.seconds:.2f} s")
    if result.conflict_path:
        text += f"; the cloud's file changed elsewhere, so this version is {result.conflict_path}"
    elif result.error:
        text += f"; {result.error}"
    return text


def _result_json(result: Any) -> dict[str, Any]:
    import attrs

    return {**attrs.asdict(result), "saving": round(result.saving, 4)}


def _load_agent(config_path: Path | None) -> Any:
    from edgesync.agent.config import AgentConfig

    return AgentConfig.load(config_path)


@main.command()
@click.argument("url")
@click.option("--token", help="The token from 'edgesync edge token add' ('-' reads it from "
              "standard input; asked for, hidden, when omitted).")
@click.option("--fingerprint", help="The SHA-256 fingerprint 'edgesync serve' printed. When "
              "omitted, the edge's is shown and you are asked to compare it.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The folder to sync.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the agent keeps its copies (default: the platform's data folder).")
@click.option("--yes", is_flag=True, help="Accept the shown fingerprint without asking.")
@click.option("--no-keyring", is_flag=True, help="Keep the token in a file even when a "
              "system keyring is available.")
@_config_option
@_json_option
def pair(url: str, token: str | None, fingerprint: str | None, root: Path,
         state_dir: Path | None, yes: bool, no_keyring: bool, config_path: Path | None,
         as_json: bool) -> None:
    """Pair this device with an edge, pinning its certificate.

    Checks that the edge answers with the certificate whose fingerprint you
    give (or confirm), and that it accepts the token; then records the
    edge's address, the fingerprint and the folder to sync. From then on a
    different certificate is refused. Pair again the same way if the edge
    was set up anew.

    \b
    Example:
      edgesync pair https://edge.home.arpa:8443 --root ~/Documents \\
          --fingerprint 41:8D:AF:...:9B:A2
    """
    import urllib.parse

    from edgesync.agent.client import EdgeClient
    from edgesync.agent.config import AgentConfig, default_config_path, default_state_dir
    from edgesync.tls import fingerprint as fingerprint_of
    from edgesync.tls import normalize_fingerprint

    try:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"{url!r} is not an edge URL; write https://HOST:PORT")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ConfigError("plain http:// would send the token in clear over the network; "
                              "use the edge's https:// address")
        if parts.scheme == "https":
            if fingerprint:
                fingerprint = normalize_fingerprint(fingerprint)
            else:
                import ssl

                pem = ssl.get_server_certificate((parts.hostname, parts.port or 443),
                                                 timeout=10)
                fingerprint = fingerprint_of(pem)
                click.echo(f"The edge at {url} presents the certificate\n  {fingerprint}\n"
                           "Compare it with what 'edgesync serve' printed on the edge.",
                           err=as_json)
                if not yes and not click.confirm("Is it the same?", err=as_json):
                    raise ConfigError("not paired: the fingerprint was not confirmed")
        if token in (None, ""):
            token = click.prompt("Token", hide_input=True, err=True)
        elif token == "-":
            token = sys.stdin.readline().strip()
        client = EdgeClient(url, token, fingerprint=fingerprint, timeout=15, retries=1)
        version = client.version()
        client.files()  # the token works
        path = config_path or default_config_path()
        token_file = AgentConfig.store_token(url, token, path.with_name("token"),
                                             use_keyring=not no_keyring)
        config = AgentConfig(url=url.rstrip("/"), fingerprint=fingerprint,
                             root=root.expanduser().resolve(),
                             state_dir=(state_dir or default_state_dir()).expanduser().resolve(),
                             token_file=token_file)
        config.root.mkdir(parents=True, exist_ok=True)
        config.save(path)
    except OSError as exc:
        _fail(ConfigError(f"cannot reach {url}: {exc.strerror or exc}"), as_json)
    except EdgesyncError as exc:
        _fail(exc, as_json)
    data = {"config": str(path), "url": config.url, "fingerprint": fingerprint,
            "root": str(config.root), "token": "keyring" if token_file is None else str(token_file),
            "edge": version}
    _emit(data, f"Paired with the edge at {config.url} (edgesync {version.get('edgesync')}, "
          f"{version.get('mode')} mode).\n  folder: {config.root}\n  configuration: {path}\n"
          f"  token: {'the system keyring' if token_file is None else token_file}", as_json)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_config_option
@_json_option
def push(files: tuple[Path, ...], config_path: Path | None, as_json: bool) -> None:
    """Send files to the edge now: a delta when the edge has an earlier version.

    A folder sends every file in it (lock and temporary files skipped). Saves
    the edge cannot take now (unreachable) are queued and sent by the next
    'push' or by 'watch'. Exit code 1 if any file was refused.

    \b
    Example:
      edgesync push ~/Documents/report.docx
    """
    from edgesync.agent.watch import is_ignored

    try:
        agent = _load_agent(config_path).agent()
        targets: list[Path] = []
        for item in files:
            if item.is_dir():
                targets += sorted(p for p in item.rglob("*") if p.is_file()
                                  and not is_ignored(agent.relpath(p)))
            else:
                targets.append(item)
        results = agent.drain() if len(agent.outbox) else []
    except EdgesyncError as exc:
        _fail(exc, as_json)
    console = _console()
    failed = 0
    for target in targets:
        try:
            result = _push_one(agent, target, console)
        except EdgesyncError as exc:
            failed += 1
            if as_json:
                click.echo(json.dumps({"path": str(target), **exc.to_dict()}))
            else:
                click.echo(f"edgesync: {target}: {exc.message}", err=True)
            if exc.fatal:
                break
            continue
        results.append(result)
        if as_json:
            click.echo(json.dumps(_result_json(result)))
        else:
            click.echo(_result_line(result))
    sys.exit(EXIT_FAILED if failed else 0)


def _push_one(agent: Any, target: Path, console: Any) -> Any:
    """Push one file, with a progress bar on a terminal for bodies that take a moment."""
    if console is None or target.stat().st_size < (256 << 10):
        return agent.push(target)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(target.name, total=None)
        return agent.push(target, progress=lambda done, total: progress.update(
            task, completed=done, total=total))


@main.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--propagate-deletes/--keep-deletes", default=None,
              help="Delete at the edge and in the cloud what is deleted here "
                   "(default: the configuration's watch.propagate_deletes, off).")
@click.option("--max-deletes", type=click.IntRange(0), help="More deletes than this at once "
              "are held until confirmed (default: watch.max_deletes, 20).")
@click.option("--confirm-deletes", is_flag=True, help="Send the deletes held back: files "
              "synced before that are gone from the folder now.")
@click.option("--debounce", type=click.FloatRange(0), help="Seconds of quiet after a write "
              "before it is sent (default: watch.debounce, 1).")
@_config_option
@_json_option
def watch(folder: Path | None, propagate_deletes: bool | None, max_deletes: int | None,
          confirm_deletes: bool, debounce: float | None, config_path: Path | None,
          as_json: bool) -> None:
    """Send every save in the synced folder as it happens, until stopped.

    Bursts of writes become one push after a moment of quiet; office lock
    files and editors' temporary and swap files are ignored; atomic saves
    (write a temporary file, rename it over the document) are followed.
    While the edge is unreachable, saves queue on disk and go out, latest
    version only, when it is back. Deletes are sent only with
    --propagate-deletes, and a mass delete waits for --confirm-deletes.

    \b
    Example:
      edgesync watch ~/Documents --propagate-deletes
    """
    from edgesync.agent.watch import Watcher, is_ignored

    try:
        config = _load_agent(config_path)
        if folder is not None and folder.expanduser().resolve() != config.root:
            raise ConfigError(f"this device syncs {config.root} (chosen when it was paired); "
                              f"to sync {folder}, pair again with --root {folder}")
        agent = config.agent()
    except EdgesyncError as exc:
        _fail(exc, as_json)
    propagate = config.propagate_deletes if propagate_deletes is None else propagate_deletes
    limit = config.max_deletes if max_deletes is None else max_deletes

    def report(result: Any) -> None:
        if result.mode == "unchanged" and not as_json:
            return  # the start-up scan finds most files unchanged: not worth a line each
        click.echo(json.dumps(_result_json(result)) if as_json else _result_line(result))
        sys.stdout.flush()

    def notice(message: str) -> None:
        if as_json:
            click.echo(json.dumps({"notice": message}))
        else:
            click.echo(f"edgesync: {message}", err=True)

    if propagate:
        gone = [record.path for record in agent.shadow.records()
                if not (agent.root / record.path).exists() and not is_ignored(record.path)]
        if len(gone) > limit and not confirm_deletes:
            notice(f"{len(gone)} files synced before are gone from {agent.root}; more than "
                   f"{limit} at once, so they are kept at the edge. Run 'edgesync watch "
                   "--propagate-deletes --confirm-deletes' to delete them there too")
        else:
            for rel in gone:
                try:
                    report(agent.delete(agent.root / rel))
                except EdgesyncError as exc:
                    notice(f"{rel}: {exc.message}")
    watcher = Watcher(agent, debounce=config.debounce if debounce is None else debounce,
                      propagate_deletes=propagate, max_deletes=limit,
                      drain_interval=config.drain_interval, on_result=report,
                      on_notice=notice)
    # Handlers first: the line below tells people (and scripts) they may stop it now.
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    if not as_json:
        click.echo(f"Watching {agent.root} -> {config.url} (Ctrl-C to stop)")
    with watcher:
        stopped.wait()
    if not as_json:
        click.echo(f"Stopped; {len(agent.outbox)} saves wait in the outbox for the edge.")


@main.command()
@_config_option
@_json_option
def status(config_path: Path | None, as_json: bool) -> None:
    """Show each synced file's state and the bytes saved so far (no network needed).

    \b
    States:
      synced    the edge and the cloud have this device's version
      pending   the edge has it; the cloud does not yet (it keeps trying)
      conflict  the cloud's file changed elsewhere; this version is a conflict copy
      failed    the cloud refused it (see the error; the edge keeps it)
      queued    not yet at the edge (unreachable); sent by 'watch' or 'push'
    """
    try:
        agent = _load_agent(config_path).agent()
        files = agent.status()
    except EdgesyncError as exc:
        _fail(exc, as_json)
    stats = agent.stats
    saved = stats.get("bytes_files", 0) - stats.get("bytes_sent", 0)
    counts: dict[str, int] = {}
    for item in files:
        counts[item.state] = counts.get(item.state, 0) + 1
    if as_json:
        import attrs

        click.echo(json.dumps({"files": [attrs.asdict(item) for item in files],
                               "counts": counts, **stats, "bytes_saved": saved}, indent=1))
        return
    console = _console()
    if console is not None:
        from rich.table import Table

        table = Table("file", "state", "size", "note")
        for item in files:
            table.add_row(item.path, item.state, _size(item.size),
                          item.conflict_path or item.error or "")
        console.print(table)
    else:
        for item in files:
            note = item.conflict_path or item.error or ""
            click.echo(f"{item.state:<9} {item.path}" + (f"  ({note})" if note else ""))
    total = stats.get("bytes_files", 0)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no files"
    click.echo(f"{summary}. Sent {_size(stats.get('bytes_sent', 0))} for "
               f"{_size(total)} of saves: {_size(max(0, saved))} saved"
               + (f" ({saved / total:.1%})." if total else "."))


@main.command()
@click.option("--provider", default="local", show_default=True,
              help="The provider the demo's edge uploads through.")
@click.option("--keep", is_flag=True, help="Keep the demo's folders and print where they are.")
def demo(provider: str, keep: bool) -> None:
    """Run a whole sync on this machine: an edge, a device folder, an editing session.

    Starts an edge on loopback with a temporary cloud folder, pairs an agent,
    saves a docx, xlsx, pptx, odt and text file several times (a character
    typed, a paragraph added, a cell changed, an image replaced), prints what
    each save sent, and checks that the cloud ends with the device's files.
    """
    from edgesync.demo import main as run_demo

    args = ["--provider", provider] + (["--keep"] if keep else [])
    sys.exit(run_demo(args))
