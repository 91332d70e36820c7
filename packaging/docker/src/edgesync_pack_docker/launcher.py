"""``DIR/launch``: start, list and remove N edge containers, one user each.

``edgesync-pack docker --out DIR`` writes ``DIR/launch.json`` (a
:class:`LaunchConfig`) and the script ``DIR/launch``
(:func:`edgesync.pack.instances.write_launcher`), which calls :func:`main` with ``here=DIR``::

    ./launch create 2 --user alice --user bob   # two edges, ports 8443 and 8444
    ./launch list
    ./launch clean --purge

Each instance gets its own folder ``DIR/instances/NAME`` (made by
:func:`edgesync.pack.instances.prepare_instance`: ``edge/`` with
``edge.toml``, certificate and hashed token, mounted read-only into the
container, and ``token``, the device token), its own host port and its own
volume ``NAME-state``. Every container and volume carries the label
``io.edgesync.launcher=ID`` of this folder; ``list`` and ``clean`` touch only
what carries it, never other containers, whatever their names. What was
created is recorded in ``DIR/instances/state.json``.

Only the ``docker`` command line is used, so ``DOCKER_HOST`` works (e.g. a
``podman system service`` socket); ``$EDGESYNC_DOCKER`` names another
program (``EDGESYNC_DOCKER=podman``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from edgesync.errors import ConfigError, EdgesyncError, PackError
from edgesync.pack.instances import (
    Commands,
    Instance,
    plan_instances,
    prepare_instance,
    read_settings,
    read_state,
    write_json,
    write_state,
)
from edgesync_pack_docker.render import EDGE_DIR, LOCAL_ROOT, STATE_DIR, state_volume

__all__ = [
    "CONFIG_NAME",
    "LABEL_INSTANCE",
    "LABEL_LAUNCHER",
    "LABEL_USER",
    "Container",
    "LaunchConfig",
    "clean",
    "create",
    "default_launcher_id",
    "docker_program",
    "list_instances",
    "main",
    "parse_listing",
    "prepare",
    "wait_healthy",
]

#: The launcher's settings file, beside the ``launch`` script.
CONFIG_NAME = "launch.json"
#: Label on every container and volume: which ``DIR`` (launcher) made it.
LABEL_LAUNCHER = "io.edgesync.launcher"
#: Label: the instance's name.
LABEL_INSTANCE = "io.edgesync.instance"
#: Label: the user the instance serves.
LABEL_USER = "io.edgesync.user"

_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,39}\Z")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@-]*\Z")
_LAUNCHER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_HOST = re.compile(r"[A-Za-z0-9:.%_-]{1,253}\Z")


# --- settings ----------------------------------------------------------------------


def default_launcher_id(here: Path) -> str:
    """A label value that identifies the containers of folder ``here``.

    Made from the resolved path: the folder's name (for people) and a hash of
    the whole path (so two bundles with the same name differ). Computed once,
    when ``launch.json`` is written, so moving the folder keeps its containers.
    """
    path = Path(here).expanduser().resolve()
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.name).strip("-.")[:40] or "edgesync"
    digest = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{readable}-{digest}"


def _bad(key: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"{key} = {value!r} is not allowed: {rule}")


def _pattern(regex: re.Pattern[str], rule: str) -> Any:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, str) or not regex.match(value):
            raise _bad(attribute.name, value, rule)
    return validate


def _check_options(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, dict):
        raise _bad(attribute.name, value, "give a JSON object of option names and values")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _bad(attribute.name, value, "option names are non-empty strings")
        if not isinstance(item, str | int | float | bool):
            raise _bad(f"{attribute.name}.{key}", item,
                       "option values are strings, numbers or booleans")


def _check_port(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _bad(attribute.name, value, "give a TCP port from 1 to 65535")


def _check_bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise _bad(attribute.name, value, "give true or false")


def _check_names(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    for name in value:
        if not isinstance(name, str) or not _HOST.match(name):
            raise _bad(attribute.name, list(value),
                       "give host names or IP addresses devices use, e.g. [\"edge.home.arpa\"]")


def _check_timeout(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise _bad(attribute.name, value, "give seconds, more than 0 and at most 3600")


def _names(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def _options_default(self: LaunchConfig) -> dict[str, Any]:
    return {"root": LOCAL_ROOT} if self.provider == "local" else {}


@attrs.frozen(kw_only=True)
class LaunchConfig:
    """The settings of one bundle's launcher (``DIR/launch.json``).

    :ivar image: the image tag to run (``docker build -t IMAGE DIR`` first).
    :ivar provider: the provider each edge uses.
    :ivar provider_options: the provider's options for every edge; ``{user}``
        in a value is replaced by the instance's user. Default for ``local``:
        ``{"root": "/var/lib/edgesync/cloud"}`` (inside the state volume).
    :ivar base_port: instance ``i`` is published on host port ``base_port + i - 1``.
    :ivar prefix: instance (container) names are ``PREFIX-i``.
    :ivar plain_http: the edges speak HTTP, published on the host's loopback
        only (for a TLS-terminating proxy on the host); else HTTPS with a
        pinned self-signed certificate per instance.
    :ivar names: host names and addresses devices use, put in the certificates.
    :ivar launcher_id: the ``io.edgesync.launcher`` label value of this bundle.
    :ivar health_timeout: seconds ``create`` waits for every edge to answer.
    :raises ConfigError: a bad value, naming its key.
    """

    image: str = attrs.field(validator=_pattern(_IMAGE, "give an image tag such as "
                                                        "edgesync-edge:latest"))
    provider: str = attrs.field(validator=_pattern(_PROVIDER, "give a provider name such "
                                                              "as local"))
    provider_options: dict[str, Any] = attrs.field(
        default=attrs.Factory(_options_default, takes_self=True), converter=dict,
        validator=_check_options)
    base_port: int = attrs.field(default=8443, validator=_check_port)
    prefix: str = attrs.field(default="edgesync-edge", validator=_pattern(
        _PREFIX, "use at most 40 lower-case letters, digits and '-', starting with a "
                 "letter or digit"))
    plain_http: bool = attrs.field(default=False, validator=_check_bool)
    names: tuple[str, ...] = attrs.field(default=("localhost", "127.0.0.1"), converter=_names,
                                         validator=_check_names)
    launcher_id: str = attrs.field(validator=_pattern(
        _LAUNCHER_ID, "use letters, digits, '.', '_' or '-' (at most 128)"))
    health_timeout: float = attrs.field(default=60, validator=_check_timeout)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as in ``launch.json``)."""
        data = attrs.asdict(self)
        data["names"] = list(self.names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, here: Path | None = None) -> LaunchConfig:
        """Check and build settings from their JSON form.

        :param here: the bundle folder; gives ``launcher_id`` when it is missing.
        :raises ConfigError: an unknown or missing key, or a bad value.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("the settings must be a JSON object")
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(map(repr, unknown))}; the keys are: "
                              f"{', '.join(sorted(known))}")
        values = dict(data)
        for key in ("image", "provider"):
            if key not in values:
                raise ConfigError(f"the key {key!r} is missing")
        if "launcher_id" not in values:
            if here is None:
                raise ConfigError("the key 'launcher_id' is missing")
            values["launcher_id"] = default_launcher_id(here)
        if "names" in values and not isinstance(values["names"], list | tuple):
            raise _bad("names", values["names"], "give a list of host names")
        if "provider_options" in values and not isinstance(values["provider_options"], dict):
            raise _bad("provider_options", values["provider_options"],
                       "give a JSON object of option names and values")
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> LaunchConfig:
        """Read ``launch.json``.

        :raises ConfigError: the file is missing or unreadable, or a bad
            setting (the message names the file and the key).
        """
        path = Path(path)
        data = read_settings(path, made_by="edgesync-pack docker --out DIR")
        try:
            return cls.from_dict(data, here=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None

    def dump(self, path: Path) -> None:
        """Write ``launch.json`` (atomically)."""
        write_json(Path(path), self.to_dict())


# --- the container engine ------------------------------------------------------------


def docker_program(environ: Mapping[str, str] | None = None) -> list[str]:
    """The container command line: ``$EDGESYNC_DOCKER`` (split like a shell), else ``docker``."""
    env = os.environ if environ is None else environ
    words = shlex.split(env.get("EDGESYNC_DOCKER") or "docker")
    return words or ["docker"]


@attrs.frozen(kw_only=True)
class Container:
    """One line of ``docker ps`` (Docker's or podman's ``{{json .}}`` form).

    :ivar id: the container's id ("" when not given).
    :ivar name: its first name.
    :ivar state: ``running``, ``exited``... (lower case; "" when not given).
    :ivar status: the engine's human text, e.g. ``Up 3 minutes``.
    :ivar labels: its labels.
    """

    id: str
    name: str
    state: str
    status: str
    labels: dict[str, str]


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str) or not value:
        return {}
    labels: dict[str, str] = {}
    last = None
    for part in value.split(","):
        key, eq, item = part.partition("=")
        if eq and key and " " not in key:
            labels[key] = item
            last = key
        elif last is not None:  # a value that itself held a comma
            labels[last] += "," + part
    return labels


def parse_listing(text: str) -> list[dict[str, Any]]:
    """JSON objects from ``docker ... --format '{{json .}}'`` (one per line),
    or from a JSON array (podman's ``--format json``); other lines are skipped."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, list):
            return [item for item in data if isinstance(item, dict)]
    objects = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            objects.append(item)
    return objects


def _container(item: Mapping[str, Any]) -> Container:
    names = item.get("Names", item.get("Name", ""))
    if isinstance(names, list):
        names = names[0] if names else ""
    name = str(names).split(",")[0].lstrip("/")
    state = item.get("State", "")
    if isinstance(state, dict):  # docker inspect's form
        state = state.get("Status", "")
    return Container(id=str(item.get("ID") or item.get("Id") or ""), name=name,
                     state=str(state).lower(), status=str(item.get("Status", "")),
                     labels=_labels(item.get("Labels")))


def _ours(commands: Commands, docker: Sequence[str], launcher_id: str) -> list[Container]:
    out = commands.run([*docker, "ps", "-a", "--filter", f"label={LABEL_LAUNCHER}={launcher_id}",
                        "--format", "{{json .}}"], quiet=True)
    # The engine filters by label; check again here, so that an engine that
    # ignores the filter can never make us touch another launcher's containers.
    return [c for c in map(_container, parse_listing(out))
            if c.labels.get(LABEL_LAUNCHER) == launcher_id]


def _our_volumes(commands: Commands, docker: Sequence[str], launcher_id: str) -> list[str]:
    out = commands.run([*docker, "volume", "ls", "--filter",
                        f"label={LABEL_LAUNCHER}={launcher_id}", "--format", "{{json .}}"],
                       quiet=True)
    return [str(item.get("Name")) for item in parse_listing(out)
            if item.get("Name") and _labels(item.get("Labels")).get(LABEL_LAUNCHER) == launcher_id]


def _logs(docker: Sequence[str], name: str, environ: Mapping[str, str] | None,
          lines: int = 30) -> str:
    """The end of a container's log (its standard output and error, merged)."""
    argv = [*docker, "logs", "--tail", str(lines), name]
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=None if environ is None else dict(environ),
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({shlex.join(argv)} failed: {exc})"
    text = done.stdout.rstrip() or "(empty)"
    return text if done.returncode == 0 else f"({shlex.join(argv)} failed: {text})"


def _status(docker: Sequence[str], name: str, environ: Mapping[str, str] | None) -> str:
    """``running``, ``exited``... or "" when the engine cannot say."""
    try:
        done = subprocess.run([*docker, "inspect", "--format", "{{.State.Status}}", name],
                              capture_output=True, text=True, timeout=20, check=False,
                              env=None if environ is None else dict(environ))
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip().lower() if done.returncode == 0 else ""


# --- waiting for health ----------------------------------------------------------------


def _url(instance: Instance, plain_http: bool, host: str = "127.0.0.1") -> str:
    scheme = "http" if plain_http else "https"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{instance.port}"


def _pin(instance: Instance) -> str:
    from edgesync.tls import fingerprint

    cert = instance.edge_dir / "tls" / "cert.pem"
    try:
        return fingerprint(cert.read_text("ascii"))
    except OSError as exc:
        raise PackError(f"{cert}: cannot read the instance's certificate ({exc}); "
                        "'./launch clean --purge' and create it again") from exc


def wait_healthy(instances: Sequence[Instance], *, plain_http: bool, timeout: float,
                 out: TextIO | None = None, docker: Sequence[str] | None = None,
                 environ: Mapping[str, str] | None = None, host: str = "127.0.0.1",
                 interval: float = 0.5) -> None:
    """Wait until every instance answers ``GET /v1/health`` with 200 from this host.

    HTTPS requests accept only the instance's own certificate (its
    fingerprint is pinned, from ``edge/tls/cert.pem``).

    :param plain_http: ask over HTTP.
    :param timeout: seconds for all of them together.
    :param out: where progress is printed (standard output by default).
    :param docker: the container command line: used to notice a container
        that stopped and to show its log; without it, only the timeout ends the wait.
    :param host: the address the ports are published on.
    :raises PackError: an instance did not answer in time, or its container
        stopped; the message ends with the container's log.
    """
    import requests

    from edgesync.tls import pinned_session

    out = out if out is not None else sys.stdout
    start = time.monotonic()
    deadline = start + timeout
    sessions = {inst.name: pinned_session(None if plain_http else _pin(inst))
                for inst in instances}
    pending = list(instances)
    last: dict[str, str] = {}
    checked: dict[str, float] = {}
    next_note = start + 5
    print(f"waiting up to {timeout:g} s for {len(pending)} edge(s) to answer "
          "GET /v1/health ...", file=out, flush=True)
    try:
        while pending:
            for inst in list(pending):
                url = _url(inst, plain_http, host) + "/v1/health"
                remaining = deadline - time.monotonic()
                try:
                    response = sessions[inst.name].get(
                        url, timeout=max(0.2, min(3.0, remaining)), allow_redirects=False)
                    status = response.status_code
                    response.close()
                    problem = None if status == 200 else f"answered {status}"
                except (requests.RequestException, OSError, ValueError) as exc:  # not yet
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    pending.remove(inst)
                    print(f"  {inst.name}: healthy ({url}, after "
                          f"{time.monotonic() - start:.1f} s)", file=out, flush=True)
                    continue
                last[inst.name] = problem
                now = time.monotonic()
                if docker is not None and now - checked.get(inst.name, start) >= 2:
                    checked[inst.name] = now
                    state = _status(docker, inst.name, environ)
                    if state in ("exited", "dead"):
                        raise PackError(
                            f"{inst.name} stopped ({state}) before answering {url}. Its log "
                            f"ends:\n{_logs(docker, inst.name, environ)}\nFix the cause, then "
                            "'./launch clean' and create again.")
            if not pending:
                break
            now = time.monotonic()
            if now >= deadline:
                inst = pending[0]
                logs = (_logs(docker, inst.name, environ) if docker is not None
                        else "(no container engine given)")
                others = [i.name for i in pending[1:]]
                also = f" (nor did {', '.join(others)})" if others else ""
                raise PackError(
                    f"{inst.name} did not answer GET {_url(inst, plain_http, host)}/v1/health "
                    f"with 200 within {timeout:g} s{also}; last: {last.get(inst.name)}. Its log "
                    f"ends:\n{logs}\nFix the cause, then './launch clean' and create again "
                    "(a slow machine may need a larger health_timeout in launch.json).")
            if now >= next_note:
                next_note = now + 5
                print(f"  still waiting for {', '.join(i.name for i in pending)} "
                      f"({deadline - now:.0f} s left; last: {last[pending[0].name]})",
                      file=out, flush=True)
            time.sleep(max(0.0, min(interval, deadline - now)))
    finally:
        for session in sessions.values():
            session.close()


# --- create / prepare / list / clean ----------------------------------------------------


def _root(here: Path) -> Path:
    return Path(here) / "instances"


def _state_path(here: Path) -> Path:
    return _root(here) / "state.json"


def _plan(config: LaunchConfig, here: Path, count: int, users: Sequence[str],
          recorded: Mapping[str, Any]) -> list[Instance]:
    adopted = plan_instances(count, root=_root(here), prefix=config.prefix,
                             base_port=config.base_port, users=users)
    names = {inst.name for inst in adopted}
    taken = {str(rec.get("user")): name for name, rec in recorded.items() if name not in names}
    for inst in adopted:
        if inst.user in taken:
            raise ConfigError(f"user {inst.user!r} already has the edge {taken[inst.user]}; "
                              "give other users with --user")
        if any(ch in str(inst.edge_dir) for ch in ":,"):
            raise ConfigError(f"{inst.edge_dir}: a folder with ':' or ',' in its path cannot "
                              "be mounted with docker -v; move the bundle")
    return adopted


def _make_folders(config: LaunchConfig, plan: Sequence[Instance], *,
                  dry_run: bool) -> dict[str, str | None]:
    from edgesync.edge.setup import render_config

    settings = {"provider": config.provider, "options": config.provider_options,
                "plain_http": config.plain_http, "behind_proxy": config.plain_http}
    fingerprints: dict[str, str | None] = {}
    for inst in plan:
        listen = f"0.0.0.0:{inst.port}"
        if dry_run:  # check the settings as prepare_instance would, and write nothing
            render_config(user=inst.user, listen=listen, **settings)
            fingerprints[inst.name] = None
        else:
            fingerprints[inst.name] = prepare_instance(inst, listen=listen,
                                                       names=config.names, **settings)
    return fingerprints


def _pairing(config: LaunchConfig, inst: Instance, fp: str | None, *, dry_run: bool,
             out: TextIO) -> None:
    loopback = {"localhost", "127.0.0.1", "::1"}
    host = next((n for n in config.names if n not in loopback),
                config.names[0] if config.names else "localhost")
    bracketed = f"[{host}]" if ":" in host else host
    scheme = "http" if config.plain_http else "https"
    url = f"{scheme}://{bracketed}:{inst.port}"
    pair = ["edgesync", "pair", url, "--token", "-"]
    if not config.plain_http:
        pair += ["--fingerprint", fp or "FINGERPRINT"]
    pair += ["--root", "~/Documents"]
    line = shlex.join(pair).replace("'~/Documents'", "~/Documents")
    print(f"{inst.name}: user {inst.user!r}, {url}", file=out)
    if dry_run:
        print("  (dry run: the token and certificate are made by a real run)", file=out)
    print(f"  pair a device: {line} < {shlex.quote(str(inst.token_file))}", file=out)
    if config.plain_http:
        print(f"  (plain HTTP: published on this host's 127.0.0.1:{inst.port} only, for a "
              "TLS-terminating proxy)", file=out)
    out.flush()


def prepare(config: LaunchConfig, here: Path, count: int, *, users: Sequence[str] = (),
            dry_run: bool = False, out: TextIO | None = None) -> list[Instance]:
    """Make the folders of ``count`` instances (for ``compose.yaml``), start nothing.

    Folders made earlier are kept (with their users, tokens and certificates).

    :raises ConfigError: a bad count, user or setting; nothing is written then.
    """
    here = Path(here).expanduser().resolve()
    out = out if out is not None else sys.stdout
    plan = _plan(config, here, count, users, {})
    fingerprints = _make_folders(config, plan, dry_run=dry_run)
    for inst in plan:
        _pairing(config, inst, fingerprints[inst.name], dry_run=dry_run, out=out)
    return plan


def create(config: LaunchConfig, here: Path, count: int, *, users: Sequence[str] = (),
           dry_run: bool = False, wait: bool = True, timeout: float | None = None,
           out: TextIO | None = None, environ: Mapping[str, str] | None = None) -> list[Instance]:
    """Make instances 1..``count`` run (as rumprun's launcher does), and wait for them.

    Per instance: its folder (:func:`prepare_instance`; kept when it exists);
    then, if this launcher's container for it runs, nothing; if it exists but
    is stopped, ``docker start``; else ``docker volume create`` (unless the
    labelled volume is there) and ``docker run -d`` with the launcher's labels.
    Unless ``wait`` is false or on a dry run, :func:`wait_healthy` follows.
    Each container is recorded in ``instances/state.json`` at once. Running
    ``create`` again is harmless: it starts only what is missing.

    :param users: the users, in order (missing ones: ``user<i>``).
    :param dry_run: print the commands; write and run nothing.
    :param timeout: overrides :attr:`LaunchConfig.health_timeout`.
    :returns: the instances.
    :raises ConfigError: a bad count, user or setting (before any command runs).
    :raises PackError: a command failed, or an edge did not become healthy.
    """
    here = Path(here).expanduser().resolve()
    out = out if out is not None else sys.stdout
    env = dict(os.environ if environ is None else environ)
    docker = docker_program(env)
    state_path = _state_path(here)
    state = read_state(state_path)
    recorded = state.setdefault("instances", {})
    plan = _plan(config, here, count, users, recorded)
    fingerprints = _make_folders(config, plan, dry_run=dry_run)
    commands = Commands(dry_run=dry_run, out=out, environ=env)
    query = Commands(out=out, environ=env)  # read-only: runs on --dry-run too
    try:
        present = {c.labels.get(LABEL_INSTANCE) or c.name: c
                   for c in _ours(query, docker, config.launcher_id)}
        volumes = set(_our_volumes(query, docker, config.launcher_id))
    except PackError as exc:
        if not dry_run:
            raise
        print(f"(the engine could not be asked what runs, so this shows a first start: "
              f"{exc.message.splitlines()[0]})", file=out)
        present, volumes = {}, set()
    for inst in plan:
        labels = [f"{LABEL_LAUNCHER}={config.launcher_id}", f"{LABEL_INSTANCE}={inst.name}",
                  f"{LABEL_USER}={inst.user}"]
        label_args = [arg for label in labels for arg in ("--label", label)]
        volume = state_volume(inst.name)
        publish = (f"127.0.0.1:{inst.port}:{inst.port}" if config.plain_http
                   else f"{inst.port}:{inst.port}")
        container = present.get(inst.name)
        if container is not None and container.state == "running":
            print(f"{inst.name}: already running ({container.status or 'up'}); kept", file=out)
            continue
        try:
            if container is not None:  # this launcher's, stopped: same volume and folder
                commands.run([*docker, "start", inst.name])
            else:
                if volume not in volumes:
                    commands.run([*docker, "volume", "create", *label_args, volume])
                commands.run([*docker, "run", "-d", "--name", inst.name, *label_args,
                              "-p", publish, "-v", f"{inst.edge_dir}:{EDGE_DIR}:ro",
                              "-v", f"{volume}:{STATE_DIR}", "--restart", "unless-stopped",
                              "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                              config.image])
        except PackError as exc:
            raise PackError(f"{exc.message}\nIf the image is missing, build it first: "
                            f"docker build -t {config.image} {shlex.quote(str(here))}. "
                            "Containers started so far are recorded: './launch list' shows "
                            "them, './launch clean' removes them.") from exc
        if not dry_run:
            recorded[inst.name] = {"index": inst.index, "user": inst.user, "port": inst.port,
                                   "volume": volume, "image": config.image,
                                   "fingerprint": fingerprints[inst.name],
                                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime())}
            write_state(state_path, state)
    if wait and not dry_run:
        wait_healthy(plan, plain_http=config.plain_http,
                     timeout=config.health_timeout if timeout is None else timeout,
                     out=out, docker=docker, environ=env)
    print(file=out)
    for inst in plan:
        _pairing(config, inst, fingerprints[inst.name], dry_run=dry_run, out=out)
    return plan


def list_instances(config: LaunchConfig, here: Path, *,
                   environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """This launcher's containers (by label), joined with the recorded state.

    :returns: one dict per instance: ``name``, ``user``, ``port``, ``state``
        (the engine's, or ``missing`` when recorded but gone), ``status``,
        ``id`` and ``recorded`` (in ``state.json``); sorted by name.
    :raises PackError: the container engine failed.
    """
    here = Path(here).expanduser().resolve()
    env = dict(os.environ if environ is None else environ)
    recorded = read_state(_state_path(here)).get("instances", {})
    containers = _ours(Commands(environ=env), docker_program(env), config.launcher_id)
    rows: dict[str, dict[str, Any]] = {}
    for c in containers:
        name = c.labels.get(LABEL_INSTANCE) or c.name
        rec = recorded.get(name, {})
        port = rec.get("port")
        rows[name] = {"name": name, "container": c.name,
                      "user": c.labels.get(LABEL_USER) or rec.get("user", ""),
                      "port": port, "state": c.state or "?", "status": c.status, "id": c.id,
                      "recorded": name in recorded}
    for name, rec in recorded.items():
        if name not in rows:
            rows[name] = {"name": name, "container": name, "user": rec.get("user", ""),
                          "port": rec.get("port"), "state": "missing", "status": "",
                          "id": "", "recorded": True}
    return [rows[name] for name in sorted(rows, key=_natural)]


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def clean(config: LaunchConfig, here: Path, *, dry_run: bool = False, purge: bool = False,
          out: TextIO | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Remove this launcher's containers (``docker rm -f``), and forget them.

    Only containers labelled ``io.edgesync.launcher=<launcher_id>`` are
    removed, never others with similar names. The instance folders (tokens,
    certificates) and volumes (versions) are kept, so ``create`` brings the
    same edges back, unless ``purge``.

    :param purge: also ``docker volume rm`` this launcher's volumes and delete
        the instance folders.
    :param dry_run: print what would be done; change nothing.
    :returns: the names of the containers removed.
    :raises PackError: the container engine failed.
    """
    here = Path(here).expanduser().resolve()
    out = out if out is not None else sys.stdout
    env = dict(os.environ if environ is None else environ)
    docker = docker_program(env)
    commands = Commands(dry_run=dry_run, out=out, environ=env)
    # The listing is read even on a dry run: it changes nothing, and shows what would go.
    reader = Commands(out=out, environ=env)
    containers = _ours(reader, docker, config.launcher_id)
    if containers:
        commands.run([*docker, "rm", "-f", *[c.id or c.name for c in containers]])
    removed = [c.name for c in containers]
    print(f"removed {len(removed)} container(s)" + (f": {', '.join(removed)}" if removed else "")
          + (" (dry run)" if dry_run else ""), file=out)
    root = _root(here)
    if purge:
        volumes = _our_volumes(reader, docker, config.launcher_id)
        if volumes:
            commands.run([*docker, "volume", "rm", *volumes])
        folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        for folder in folders:
            print(shlex.join(["rm", "-r", str(folder)]), file=out)
            if not dry_run:
                shutil.rmtree(folder)
    elif root.is_dir():
        print(f"kept the instance folders in {root} (tokens, certificates) and the volumes "
              "(versions); 'clean --purge' removes them too", file=out)
    if not dry_run and _state_path(here).exists():
        write_state(_state_path(here), {"instances": {}})
    out.flush()
    return removed


# --- the command line -----------------------------------------------------------------------


_EPILOG = """\
examples:
  ./launch create 2                       two edges: users user1, user2 on ports 8443, 8444
  ./launch create 3                       later: starts only edge 3 (and any that stopped)
  ./launch create 2 --user alice --user bob
  ./launch create 1 --dry-run             print the docker commands; change nothing
  ./launch prepare 2 --user alice --user bob   only the folders (for compose.yaml)
  ./launch list                           this folder's containers and their state
  ./launch list --json
  ./launch clean                          remove this folder's containers (keeps tokens,
                                          certificates and versions)
  ./launch clean --purge                  also remove their volumes and instance folders
  EDGESYNC_DOCKER=podman ./launch list    use podman instead of docker
  DOCKER_HOST=unix:///run/podman/podman.sock ./launch create 1

Build the image first: docker build -t IMAGE . (IMAGE is in launch.json).
Settings (image, provider, ports, host names...) are in launch.json beside
this script. Each instance NAME has the folder instances/NAME: edge/ is
mounted read-only into its container, token is the device token.
"""


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("give at least 1")
    return number


def _parser(config: LaunchConfig | None) -> argparse.ArgumentParser:
    about = (f" (image {config.image}, provider {config.provider}, launcher id "
             f"{config.launcher_id})" if config else "")
    parser = argparse.ArgumentParser(
        prog="./launch", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Start, list and remove edgesync edge containers{about}. Each instance "
                    "serves one user, on its own host port, with its own edge folder and "
                    "state volume.",
        epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("create", help="make edges 1..N run and wait until they answer",
                       description="Make N instance folders (kept if they exist), start a "
                                   "container for each that does not run yet, wait until "
                                   "each answers GET /v1/health, and print how to pair a "
                                   "device. Running it again starts only what is missing.",
                       epilog="example: ./launch create 2 --user alice --user bob")
    p.add_argument("count", metavar="N", type=_count, help="how many edges")
    p.add_argument("--user", action="append", default=[], metavar="NAME",
                   help="the user of the next instance (repeat; default user<i>)")
    p.add_argument("--dry-run", action="store_true", help="print the commands; change nothing")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the edges' health")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="how long to wait (default: health_timeout in launch.json)")
    p = sub.add_parser("prepare", help="only make N instance folders (for compose.yaml)",
                       description="Make the instance folders (configuration, certificate, "
                                   "token) without starting anything; print how to pair.",
                       epilog="example: ./launch prepare 2 --user alice --user bob")
    p.add_argument("count", metavar="N", type=_count, help="how many instances")
    p.add_argument("--user", action="append", default=[], metavar="NAME",
                   help="the user of the next instance (repeat; default user<i>)")
    p.add_argument("--dry-run", action="store_true", help="check the settings; write nothing")
    p = sub.add_parser("list", help="this folder's containers and their state",
                       description="List the containers labelled with this folder's launcher "
                                   "id, joined with instances/state.json.")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p = sub.add_parser("clean", help="remove this folder's containers",
                       description="Remove (docker rm -f) the containers labelled with this "
                                   "folder's launcher id, and only those.",
                       epilog="example: ./launch clean --purge")
    p.add_argument("--dry-run", action="store_true", help="print the commands; change nothing")
    p.add_argument("--purge", action="store_true",
                   help="also remove the volumes (versions) and instance folders (tokens, "
                        "certificates)")
    return parser


def main(argv: Sequence[str] | None = None, *, here: Path) -> int:
    """Run the launcher of the bundle in ``here``; return the exit status.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :param here: the bundle folder (``launch.json``, ``instances/``).
    """
    here = Path(here).expanduser().resolve()
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        config: LaunchConfig | None = LaunchConfig.load(here / CONFIG_NAME)
        problem = None
    except ConfigError as exc:
        config, problem = None, exc
    try:  # --help works even without launch.json
        args = _parser(config).parse_args(args_list)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if config is None:
            raise problem or ConfigError("no settings")
        if args.command == "create":
            create(config, here, args.count, users=args.user, dry_run=args.dry_run,
                   wait=not args.no_wait, timeout=args.timeout)
        elif args.command == "prepare":
            prepare(config, here, args.count, users=args.user, dry_run=args.dry_run)
        elif args.command == "list":
            rows = list_instances(config, here)
            if args.json:
                print(json.dumps(rows, indent=1))
            elif not rows:
                print(f"no containers of this launcher ({config.launcher_id}); "
                      "'./launch create N' starts some")
            else:
                print(f"{'NAME':<24} {'USER':<16} {'PORT':>5}  {'STATE':<10} STATUS")
                for row in rows:
                    print(f"{row['name']:<24} {row['user']:<16} {row['port'] or '?':>5}  "
                          f"{row['state']:<10} {row['status']}")
        elif args.command == "clean":
            clean(config, here, dry_run=args.dry_run, purge=args.purge)
    except EdgesyncError as exc:
        print(f"launch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("launch: interrupted", file=sys.stderr)
        return 130
    return 0
