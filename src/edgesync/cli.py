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
def serve(edge_dir: Path | None, listen: str | None, threads: int | None, plain_http: bool,
          access_log: str | None) -> None:
    """Run the edge until stopped (Ctrl-C or SIGTERM).

    Reads DIR/edge.toml (made by 'edgesync edge init'), serves the HTTP API
    (docs/edge-api.md) over HTTPS with the edge's own certificate, and uploads
    every received version to the configured provider. Versions that cannot
    be uploaded yet are kept and retried, also after a restart.

    \b
    Example:
      edgesync serve --dir ~/edge --listen 0.0.0.0:8443
    """
    from edgesync.edge.config import EdgeConfig, parse_listen
    from edgesync.edge.server import EdgeServer

    try:
        overrides: dict[str, Any] = {"threads": threads, "access_log": access_log}
        if listen:
            overrides["host"], overrides["port"] = parse_listen(listen)
        if plain_http:
            overrides["tls"] = False
        config = EdgeConfig.load(edge_dir or default_edge_dir(), **overrides)
        server = EdgeServer(config)
        server.start()
    except EdgesyncError as exc:
        _fail(exc)
    except OSError as exc:
        click.echo(f"edgesync: cannot listen on {config.host}:{config.port}: {exc.strerror}",
                   err=True)
        sys.exit(EXIT_FAILED)
    who = (f"personal mode for {config.user!r}" if config.mode == "personal"
           else "multi-user mode")
    click.echo(f"edgesync edge {__version__} serving {server.url} ({who}, "
               f"provider {config.provider})")
    if server.fingerprint:
        click.echo(f"certificate fingerprint (SHA-256): {server.fingerprint}")
    sys.stdout.flush()

    def stop(signum: int, frame: object) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait()
    click.echo("edgesync edge stopped; versions not yet uploaded are kept for the next start")


@main.group()
def edge() -> None:
    """Set up an edge: its folder, certificate and device tokens."""


_CONFIG_TEMPLATE = """\
# edgesync edge configuration (written by 'edgesync edge init'; edit freely).
# Every setting is explained in docs/edge-api.md, "Configuration".

# "personal": one user, as in the EdgeCourier paper; "multi-user": many users
# per process, each with a separate store and cloud folder or account.
mode = {mode}
# Personal mode: the one user's name (tokens are made for this user).
user = {user}

[server]
# HOST:PORT to listen on. Devices on the network need a non-loopback address.
listen = {listen}
# HTTPS with the certificate in tls/ (its fingerprint is pinned by devices).
# false only on a loopback address or with behind_proxy = true.
tls = {tls}
behind_proxy = false
# Requests served at once.
threads = 16
# JSON access log: "-" for standard error, or a file.
access_log = "-"

[provider]
# Where files go: "local" (a folder plays the cloud) or an installed plugin
# (edgesync plugins lists them).
name = {provider}

[provider.options]
# The provider's own options; "{{user}}" is replaced by the user's name.
{options}
[limits]
max_file_size = "1 GiB"
max_delta_size = "256 MiB"

[upload]
# Tries within one request before the upload continues in the background.
attempts = 4
# Longest retry-after (seconds) waited for within a request.
max_wait = 30
"""


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@edge.command("init")
@click.argument("edge_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(["personal", "multi-user"]), default="personal",
              show_default=True, help="One user per edge, or many.")
@click.option("--user", default="me", show_default=True, help="Personal mode: the user's name.")
@click.option("--listen", default="0.0.0.0:8443", show_default=True, metavar="HOST:PORT",
              help="Address the edge will listen on.")
@click.option("--cloud", type=click.Path(file_okay=False, path_type=Path),
              help="For the local provider: the folder that plays the cloud "
                   "(default: DIR/cloud, per user in multi-user mode).")
@click.option("--name", "names", multiple=True, metavar="HOST",
              help="A host name or IP address devices use to reach the edge (repeatable; "
                   "recorded in the certificate).")
@click.option("--plain-http", is_flag=True, help="Write tls = false (loopback or proxy only).")
@_json_option
def edge_init(edge_dir: Path | None, mode: str, user: str, listen: str, cloud: Path | None,
              names: tuple[str, ...], plain_http: bool, as_json: bool) -> None:
    """Create an edge: DIR/edge.toml, a self-signed certificate, and folders.

    Prints the certificate's SHA-256 fingerprint: devices pin it when they
    pair. Refuses to touch a folder that already holds an edge.

    \b
    Example:
      edgesync edge init ~/edge --name edge.home.arpa
      edgesync edge init /srv/edge --mode multi-user --cloud /srv/clouds
    """
    from edgesync.edge.config import CONFIG_NAME, EdgeConfig, parse_listen, valid_user
    from edgesync.tls import create_certificate

    folder = (edge_dir or default_edge_dir()).expanduser().resolve()
    try:
        valid_user(user)
        parse_listen(listen)
        if (folder / CONFIG_NAME).exists():
            raise ConfigError(f"{folder} already holds an edge ({CONFIG_NAME} exists); "
                              "nothing was changed")
        root = (cloud.expanduser().resolve() if cloud else folder / "cloud")
        root_option = str(root / "{user}") if mode == "multi-user" else str(root)
        text = _CONFIG_TEMPLATE.format(
            mode=_toml_str(mode), user=_toml_str(user), listen=_toml_str(listen),
            tls="false" if plain_http else "true", provider=_toml_str("local"),
            options=f"root = {_toml_str(root_option)}\n")
        import tomllib

        EdgeConfig.from_mapping(tomllib.loads(text), folder)  # refuse what serve would refuse
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        config_path = folder / CONFIG_NAME
        fp = None
        if not plain_http:
            fp = create_certificate(folder / "tls" / "cert.pem", folder / "tls" / "key.pem",
                                    names=names)
        config_path.write_text(text, "utf-8")
    except EdgesyncError as exc:
        _fail(exc, as_json)
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
    except EdgesyncError as exc:
        _fail(exc, as_json)
    data = {"plugins": host.distributions, "failed": host.failures,
            "providers": {name: spec.description for name, spec in providers.items()},
            "hash_types": {name: spec.description for name, spec in hashes.items()}}
    lines = ["Providers:", *(f"  {n:<12} {s.description}" for n, s in sorted(providers.items())),
             "Hash types:", *(f"  {n:<12} {s.description}" for n, s in sorted(hashes.items())),
             "Plugins:", *(f"  {n:<12} {d}" for n, d in sorted(host.distributions.items()))]
    lines += [f"  {n:<12} FAILED: {why}" for n, why in sorted(host.failures.items())]
    _emit(data, "\n".join(lines), as_json)
