"""Per-instance edge folders and commands, shared by the launchers of every target.

An N-instance launcher (``launch create N``) gives each instance its own user,
edge folder (``edge.toml``, certificate, hashed token), host port and state.
This module makes those folders and runs (or, with ``--dry-run``, prints) the
commands that start them, so every target's launcher behaves the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from edgesync.edge.config import valid_user
from edgesync.errors import ConfigError, PackError

__all__ = ["Commands", "Instance", "plan_instances", "prepare_instance", "read_settings",
           "read_state", "write_json", "write_launcher", "write_state"]


@attrs.frozen(kw_only=True)
class Instance:
    """One edge of an N-instance launch.

    :ivar index: 1-based position; part of the name, port and MAC address.
    :ivar name: the instance's name (container, unikernel domain): ``PREFIX-INDEX``.
    :ivar user: the one user this (personal-mode) edge serves.
    :ivar port: the host port devices connect to.
    :ivar folder: the instance's folder on the host: ``edge/`` (its edge
        folder: configuration, certificate, hashed token) and ``token`` (the
        device token, readable by the owner only).
    """

    index: int
    name: str
    user: str
    port: int
    folder: Path

    @property
    def edge_dir(self) -> Path:
        """The instance's edge folder (mounted read-only into the instance)."""
        return self.folder / "edge"

    @property
    def token_file(self) -> Path:
        """The device token for :attr:`user`, shown once to the operator."""
        return self.folder / "token"


def plan_instances(count: int, *, root: Path, prefix: str, base_port: int,
                   users: Sequence[str] = ()) -> list[Instance]:
    """Name, user and port for instances 1..``count``, keeping what earlier runs made.

    An instance folder that already holds an edge (made by an earlier
    ``create``) keeps its user, token and certificate: its user is taken when
    none is given, and a different one, or a port other than the one its
    edge listens on, is refused rather than silently serving the wrong person.

    :param root: the folder that holds one folder per instance.
    :param prefix: instance names are ``PREFIX-INDEX``.
    :param base_port: instance ``i`` listens on host port ``base_port + i - 1``.
    :param users: the users, in order; missing ones are the kept folder's
        user, else ``user1``, ``user2``...
    :raises ConfigError: a bad count, user name or port range, or a
        disagreement with a kept instance folder; the message says what to do.
    """
    if count < 1:
        raise ConfigError(f"the number of instances must be at least 1, not {count}")
    if len(users) > count:
        raise ConfigError(f"{len(users)} users given for {count} instances")
    last_port = base_port + count - 1
    if not 1 <= base_port or last_port > 65535:
        raise ConfigError(f"ports {base_port}..{last_port} are not all valid TCP ports")
    plan = []
    for offset in range(count):
        index = offset + 1
        name = f"{prefix}-{index}"
        folder = root / name
        port = base_port + offset
        given = users[offset] if offset < len(users) else None
        kept = _kept_edge(folder / "edge")
        if kept is None:
            user = given or f"user{index}"
        else:
            user, kept_port = kept
            if given is not None and given != user:
                raise ConfigError(
                    f"{name} already serves user {user!r}, not {given!r} (its token and "
                    "versions are kept); give the users in the same order as before, or "
                    "delete it first with './launch clean --purge'")
            if kept_port != port:
                raise ConfigError(
                    f"{name} was made to listen on port {kept_port}, not {port}: restore "
                    "base_port in launch.json, or delete the instances with "
                    "'./launch clean --purge'")
        plan.append(Instance(index=index, name=name, user=valid_user(user), folder=folder,
                             port=port))
    if len({item.user for item in plan}) != len(plan):
        raise ConfigError("each instance needs its own user; a name is given twice")
    return plan


def _kept_edge(edge_dir: Path) -> tuple[str, int] | None:
    """The user and port of an edge folder an earlier run made, or None."""
    import tomllib

    path = edge_dir / "edge.toml"
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); fix it, or delete the instance "
                          "with './launch clean --purge'") from exc
    port = str(data.get("server", {}).get("listen", "")).rpartition(":")[2]
    return str(data.get("user", "")), int(port) if port.isdigit() else -1


def prepare_instance(instance: Instance, *, provider: str, options: Mapping[str, Any],
                     listen: str = "0.0.0.0:8443", plain_http: bool = False,
                     behind_proxy: bool = False, names: Sequence[str] = ()) -> str | None:
    """Create the instance's edge folder and device token (once; kept afterwards).

    The edge is in personal mode for :attr:`Instance.user`; ``{user}`` in
    option values is replaced by the edge. The token is written to
    :attr:`Instance.token_file` (mode 0600) and only its hash to the edge.

    :param names: host names or addresses devices use (put in the certificate).
    :returns: the certificate's fingerprint (None with ``plain_http``).
    :raises ConfigError: a bad setting; nothing is written then.
    """
    from edgesync.edge.setup import init_edge
    from edgesync.edge.tokens import TokenStore
    from edgesync.tls import fingerprint

    edge = instance.edge_dir
    if (edge / "edge.toml").exists():  # made by an earlier `create`: keep token and certificate
        cert = edge / "tls" / "cert.pem"
        return fingerprint(cert.read_text("ascii")) if cert.exists() else None
    instance.folder.mkdir(parents=True, exist_ok=True)
    os.chmod(instance.folder, 0o700)
    fp = init_edge(edge, user=instance.user, listen=listen, plain_http=plain_http,
                   behind_proxy=behind_proxy, names=names, provider=provider,
                   options=options)
    token, _ = TokenStore(edge / "tokens.json").add(instance.user, label=instance.name)
    fd = os.open(instance.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    # The edge inside reads its folder as another user (a container's uid):
    # the folder is mounted read-only, so make it readable, but keep the
    # instance folder (which holds the plain token) private.
    for path in [edge, *edge.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return fp


class Commands:
    """Runs a launcher's commands, or only prints them (``--dry-run``).

    Every command is echoed, shell-quoted, before it runs (to ``out``), so a
    dry run prints exactly what a real run would execute.

    :param dry_run: print, do not run.
    :param out: where commands are echoed (standard output by default).
    :param environ: the environment of the commands (default: this process's).
    """

    def __init__(self, *, dry_run: bool = False, out: TextIO | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.dry_run = dry_run
        self.out = out if out is not None else sys.stdout
        self.environ = dict(os.environ if environ is None else environ)

    def run(self, argv: Sequence[str], *, check: bool = True, quiet: bool = False) -> str:
        """Run ``argv`` and return its standard output ("" on a dry run).

        :param check: a non-zero exit raises :class:`PackError` with its stderr.
        :param quiet: do not echo (for read-only queries such as ``ps``).
        :raises PackError: the program is missing, or failed with ``check``.
        """
        if not quiet or self.dry_run:
            print(shlex.join(argv), file=self.out, flush=True)
        if self.dry_run:
            return ""
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True,
                                  env=self.environ, check=False)
        except FileNotFoundError:
            raise PackError(f"{argv[0]!r} is not installed (or not on PATH); it is needed "
                            f"to run: {shlex.join(argv)}") from None
        if check and done.returncode != 0:
            raise PackError(f"{shlex.join(argv)} failed (exit {done.returncode}): "
                            f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout


def read_state(path: Path) -> dict[str, Any]:
    """A launcher's state file (what it created), or an empty state."""
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {"instances": {}}
    except (OSError, ValueError) as exc:
        raise PackError(f"{path}: unreadable launcher state ({exc}); remove it only "
                        "after checking which instances are running") from exc


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write a launcher's state file atomically."""
    write_json(path, state)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a launcher's settings or state)."""
    from edgesync._fs import atomic_write

    atomic_write(Path(path), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def read_settings(path: Path, *, made_by: str) -> Any:
    """The parsed JSON of a launcher's settings file (``launch.json``).

    :param made_by: the command that writes the file, named when it is missing.
    :raises ConfigError: missing, unreadable or not JSON; the message names the file.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: run the launcher in the folder "
                          f"'{made_by}' wrote, or write it again") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc}); fix it, or write it again "
                          f"with '{made_by}'") from exc


def write_launcher(folder: Path, module: str, *, what: str, distribution: str) -> Path:
    """Write ``folder/launch``: an executable that runs ``module.main(argv, here=folder)``.

    The script runs with the interpreter that ran ``edgesync-pack`` (where
    edgesync and the target are installed), wherever the folder is moved.

    :param module: the target's launcher module, e.g. ``edgesync_pack_docker.launcher``.
    :param what: one line saying what it launches (the script's docstring).
    :param distribution: the target's distribution, named if the import fails.
    :raises ConfigError: the interpreter's path has spaces (a shebang cannot hold them).
    """
    if any(ch.isspace() for ch in sys.executable):
        raise ConfigError(f"the interpreter {sys.executable!r} has spaces in its path, which "
                          "a script's first line cannot hold; run edgesync-pack from one "
                          "without")
    script = folder / "launch"
    script.write_text(
        f"#!{sys.executable}\n"
        f'"""{what} Run ./launch --help."""\n'
        "import sys\n"
        "from pathlib import Path\n\n"
        "try:\n"
        f"    from {module} import main\n"
        "except ImportError as exc:\n"
        '    sys.exit(f"launch: {exc}; this launcher needs edgesync and '
        f'{distribution} installed for {{sys.executable}}")\n\n'
        "sys.exit(main(sys.argv[1:], here=Path(__file__).resolve().parent))\n",
        "utf-8")
    script.chmod(0o755)
    return script
