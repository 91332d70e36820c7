"""``DIR/launch``: start, list and stop N rumprun unikernel edges, one per user.

``edgesync-pack rumprun --out DIR`` writes ``main.iso`` (the vendored edge,
mounted as the guest's ``site-packages``), ``launch.json`` (a
:class:`LaunchConfig`) and the script ``DIR/launch``, which calls
:func:`main`. Each instance ``PREFIX-I`` gets, in ``DIR/instances/PREFIX-I/``:

- ``edge/`` and ``token``: its edge folder and device token
  (:func:`edgesync.pack.instances.prepare_instance`; made once, then kept);
- ``edge.iso``: the edge folder as a read-only image, mounted at ``/edge``;
- ``state.img``: a writable ext2 image mounted at ``/state``, where the edge
  keeps the user's versions. It is made once with ``mke2fs`` and never
  overwritten; ``clean`` keeps it (a later ``create`` reuses it) unless
  ``--purge`` is given.

Each instance is started with one ``rumprun`` command (see
:func:`rumprun_argv`); the ``xen:<domid>`` or ``qemu:<pid>`` line it prints is
recorded in ``DIR/instances/state.json``, and ``clean`` stops only what is
recorded there: a Xen domain by its name (when ``xl list`` shows it), a QEMU
process by its pid (when the process still belongs to that instance).

Networking, per instance ``I`` (guest interface ``net0``, DHCP):

- Xen: ``-I net0,xenif,bridge=BR,mac=00:16:3e:..`` with a MAC address derived
  from the prefix and ``I`` (:func:`xen_mac`); a bridge is required.
- KVM/QEMU with a bridge: ``-I net0,vioif,-net bridge,br=BR`` (QEMU's bridge
  helper; ``/etc/qemu/bridge.conf`` must allow ``BR``). rumprun picks the
  guest's ``52:54:00:..`` MAC address itself, at random.
- KVM/QEMU without one: ``-I net0,vioif,-net user,hostfwd=tcp::PORT-:PORT``,
  so devices reach the instance at this host's port ``PORT``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
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

__all__ = [
    "CONFIG_NAME",
    "PLATFORMS",
    "STATE_NAME",
    "LaunchConfig",
    "interface_spec",
    "main",
    "mke2fs_argv",
    "rumprun_argv",
    "xen_mac",
]

#: The launch settings' file name, in the folder ``edgesync-pack rumprun`` wrote.
CONFIG_NAME = "launch.json"
#: What the launcher records, in ``DIR/instances/``.
STATE_NAME = "state.json"
#: The ``rumprun`` platforms the launcher starts instances on.
PLATFORMS = ("xen", "kvm", "qemu")

_PYTHON_VERSION = re.compile(r"3\.\d{1,2}")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
_BRIDGE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_NAME = re.compile(r"[A-Za-z0-9.:_-]{1,253}")
# rumprun is a shell script: it splits its qemu command line on white space,
# and splits -b and -I values on commas.
_UNSAFE_PATH = re.compile(r"[\s,'\"\\$`;&|<>()*?\[\]{}]")
_STARTED = re.compile(r"^(xen|qemu):(\d+)\s*$", re.MULTILINE)
_SCALAR = (str, int, float, bool)
_STOP_WAIT = 5.0  # seconds to wait for a QEMU process to end after SIGTERM


def _int_field(key: str, value: Any, low: int, high: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f'"{key}" must be a whole number ({hint}), not {value!r}')
    if not low <= value <= high:
        raise ConfigError(f'"{key}" must be from {low} to {high} ({hint}), not {value}')


def _str_field(key: str, value: Any, hint: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f'"{key}" must be a non-empty string ({hint}), not {value!r}')


def _to_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(f'"names" must be a list of host names or addresses, '
                          f'such as ["edge.home.arpa"], not {value!r}')
    return tuple(value)


def _to_options(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f'"provider_options" must be an object of option names and values, '
                          f'such as {{"root": "/state/{{user}}"}}, not {value!r}')
    return dict(value)


@attrs.frozen(kw_only=True)
class LaunchConfig:
    """The settings of ``DIR/launch`` (``DIR/launch.json``), checked when made.

    :ivar platform: the ``rumprun`` platform: ``"xen"``, ``"kvm"`` or
        ``"qemu"``; ``python.bin`` must be baked for it (``xen_pv`` for Xen,
        ``hw_virtio`` for KVM/QEMU).
    :ivar python_version: the version of the rumprun Python, ``"3.X"``: the
        images are mounted at ``/python/lib/python3.X``.
    :ivar python_bin: the baked Python unikernel; relative to ``DIR`` unless absolute.
    :ivar python_iso: the ISO of its standard library; relative to ``DIR`` unless absolute.
    :ivar main_iso: the vendored edge's ISO; relative to ``DIR`` unless absolute.
    :ivar memory_mb: each instance's memory (``rumprun -M``).
    :ivar bridge: the host bridge instances join (required on Xen); without
        one, KVM/QEMU instances use user-mode networking with a forwarded port.
    :ivar base_port: instance ``I`` listens on port ``base_port + I - 1``.
    :ivar prefix: instances are named ``PREFIX-I`` (Xen domain, host name, folder).
    :ivar provider: the edge's provider (a plugin name); also the only plugin
        the edge loads (``EDGESYNC_LOAD_PLUGINS``).
    :ivar provider_options: the provider's options; ``{user}`` in a value is
        replaced by the edge with the instance's user.
    :ivar plain_http: serve plain HTTP behind a TLS-terminating proxy, instead
        of HTTPS with a certificate of the instance's own.
    :ivar names: host names or addresses devices use, put in the certificates.
    :ivar state_size_mb: the size of each new ``state.img``.
    :ivar instances: how many instances ``create`` starts when not told.
    """

    platform: str
    python_version: str
    python_bin: str
    python_iso: str
    provider: str
    main_iso: str = "main.iso"
    memory_mb: int = 256
    bridge: str | None = None
    base_port: int = 8443
    prefix: str = "edgesync-edge"
    provider_options: dict[str, Any] = attrs.field(factory=dict, converter=_to_options)
    plain_http: bool = False
    names: tuple[str, ...] = attrs.field(default=(), converter=_to_names)
    state_size_mb: int = 256
    instances: int = 1

    def __attrs_post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ConfigError(f'"platform" must be one of {", ".join(PLATFORMS)}, '
                              f"not {self.platform!r}")
        if not isinstance(self.python_version, str) or not _PYTHON_VERSION.fullmatch(
                self.python_version):
            raise ConfigError(f'"python_version" must look like "3.5" (the version of the '
                              f"rumprun Python), not {self.python_version!r}")
        for key in ("python_bin", "python_iso", "main_iso"):
            _str_field(key, getattr(self, key), "a path, relative to the launcher's folder "
                                                "unless absolute")
        _int_field("memory_mb", self.memory_mb, 64, 1 << 20, "MiB per instance; 256 suggested")
        _int_field("state_size_mb", self.state_size_mb, 8, 1 << 24, "MiB per state image")
        _int_field("base_port", self.base_port, 1, 65535, "a TCP port")
        _int_field("instances", self.instances, 1, 100000, "the default N of 'create'")
        if self.bridge is not None and (not isinstance(self.bridge, str)
                                        or not _BRIDGE.fullmatch(self.bridge)):
            raise ConfigError(f'"bridge" must be a network bridge name such as "xenbr0" '
                              f"(1-15 letters, digits, '.', '_', '-') or null, not {self.bridge!r}")
        if self.platform == "xen" and self.bridge is None:
            raise ConfigError('"bridge" is required on Xen: give the host bridge the instances '
                              'join, such as "xenbr0" (see "brctl show" or "ip link show type '
                              'bridge")')
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise ConfigError(f'"prefix" must be 1-40 letters, digits or "-", starting with a '
                              f"letter or digit (it names domains and hosts), not {self.prefix!r}")
        if not isinstance(self.provider, str) or not _PROVIDER.fullmatch(self.provider):
            raise ConfigError(f'"provider" must be a provider plugin\'s name such as "dropbox" '
                              f"(letters, digits, '.', '_', '-'), not {self.provider!r}")
        for key, value in self.provider_options.items():
            ok = isinstance(value, _SCALAR) or (
                isinstance(value, list) and all(isinstance(item, _SCALAR) for item in value))
            if not isinstance(key, str) or not key or not ok:
                raise ConfigError(f'"provider_options": option {key!r} must have a string, '
                                  f"number, true/false or a list of them, not {value!r}")
        if not isinstance(self.plain_http, bool):
            raise ConfigError(f'"plain_http" must be true or false, not {self.plain_http!r}')
        for name in self.names:
            if not isinstance(name, str) or not _HOST_NAME.fullmatch(name):
                raise ConfigError(f'"names" must hold host names or IP addresses, '
                                  f"not {name!r}")

    @classmethod
    def from_mapping(cls, data: Any) -> LaunchConfig:
        """Check and build the settings from parsed JSON.

        :param data: an object with the keys of this class (unknown keys are refused).
        :raises ConfigError: a missing, unknown or bad key; the message names it.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("the settings must be a JSON object of keys and values")
        fields = attrs.fields(cls)
        known = {field.name for field in fields}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(map(repr, unknown))}; the keys are "
                              f"{', '.join(sorted(known))}")
        for field in fields:
            if field.default is attrs.NOTHING and field.name not in data:
                raise ConfigError(f'"{field.name}" is missing; add it (see the launcher '
                                  "documentation) or make the folder again with "
                                  "'edgesync-pack rumprun --out DIR'")
        return cls(**data)

    def to_mapping(self) -> dict[str, Any]:
        """The settings as a JSON-ready object (what :meth:`dump` writes)."""
        data = attrs.asdict(self, recurse=False)
        data["names"] = list(self.names)
        data["provider_options"] = dict(self.provider_options)
        return data

    @classmethod
    def load(cls, path: Path) -> LaunchConfig:
        """Read the settings from a JSON file.

        :raises ConfigError: the file is missing or unreadable, not JSON, or a
            key is missing, unknown or bad; the message names the file and key.
        """
        path = Path(path)
        data = read_settings(path, made_by="edgesync-pack rumprun --out DIR")
        try:
            return cls.from_mapping(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def dump(self, path: Path) -> None:
        """Write the settings to a JSON file (atomically; readable by :meth:`load`).

        :raises OSError: the file cannot be written.
        """
        write_json(Path(path), self.to_mapping())

    def path(self, key: str, here: Path) -> Path:
        """The absolute path of ``python_bin``, ``python_iso`` or ``main_iso``.

        :param key: one of those three keys.
        :param here: the launcher's folder, which relative paths are under.
        :raises ValueError: ``key`` is not one of those three.
        """
        if key not in ("python_bin", "python_iso", "main_iso"):
            raise ValueError(f"{key!r} is not a path setting")
        return Path(os.path.abspath(Path(here) / getattr(self, key)))


def xen_mac(prefix: str, index: int) -> str:
    """The Xen MAC address of instance ``index``: ``00:16:3e:PP:HH:LL``.

    ``PP`` is derived from ``prefix`` (so launchers with different prefixes on
    one bridge differ) and ``HH:LL`` is ``index``, so the addresses of one
    launcher's instances are always distinct.

    :raises ConfigError: ``index`` is not from 1 to 65535.
    """
    if not 1 <= index <= 0xFFFF:
        raise ConfigError(f"instance number {index} must be from 1 to 65535")
    tag = hashlib.sha256(prefix.encode("utf-8")).digest()[0]
    return f"00:16:3e:{tag:02x}:{index >> 8:02x}:{index & 0xFF:02x}"


def interface_spec(config: LaunchConfig, instance: Instance) -> str:
    """The ``rumprun -I`` value of an instance: its network interface ``net0``.

    - Xen: ``net0,xenif,bridge=BR,mac=00:16:3e:..`` (an ``xl`` vif spec).
    - KVM/QEMU with a bridge: ``net0,vioif,-net bridge,br=BR`` (rumprun adds
      ``-net nic,model=virtio,macaddr=52:54:00:..`` itself, at random).
    - KVM/QEMU without one: ``net0,vioif,-net user,hostfwd=tcp::PORT-:PORT``.

    :raises ConfigError: Xen without a bridge.
    """
    if config.platform == "xen":
        if config.bridge is None:
            raise ConfigError('"bridge" is required on Xen')
        return f"net0,xenif,bridge={config.bridge},mac={xen_mac(config.prefix, instance.index)}"
    if config.bridge is not None:
        return f"net0,vioif,-net bridge,br={config.bridge}"
    return f"net0,vioif,-net user,hostfwd=tcp::{instance.port}-:{instance.port}"


def rumprun_argv(config: LaunchConfig, instance: Instance, *, here: Path) -> list[str]:
    """The ``rumprun`` command that starts ``instance`` (never attached: no ``-i``).

    ``rumprun PLATFORM -M MEM -N NAME -I IFACE -W net0,inet,dhcp``
    ``-b PYTHON_ISO,/python/lib/python3.X -b MAIN_ISO,/python/lib/python3.X/site-packages``
    ``-b EDGE_ISO,/edge -b STATE_IMG,/state -e PYTHONHOME=/python``
    ``-e EDGESYNC_EDGE_DIR=/edge -e EDGESYNC_STATE_DIR=/state``
    ``-e EDGESYNC_LOAD_PLUGINS=PROVIDER -- PYTHON_BIN -m edgesync.edge``

    :param here: the launcher's folder (relative image paths are under it).
    :raises ConfigError: Xen without a bridge.
    """
    lib = f"/python/lib/python{config.python_version}"
    return [
        "rumprun", config.platform,
        "-M", str(config.memory_mb),
        "-N", instance.name,
        "-I", interface_spec(config, instance),
        "-W", "net0,inet,dhcp",
        "-b", f"{config.path('python_iso', here)},{lib}",
        "-b", f"{config.path('main_iso', here)},{lib}/site-packages",
        "-b", f"{instance.folder / 'edge.iso'},/edge",
        "-b", f"{instance.folder / 'state.img'},/state",
        "-e", "PYTHONHOME=/python",
        "-e", "EDGESYNC_EDGE_DIR=/edge",
        "-e", "EDGESYNC_STATE_DIR=/state",
        "-e", f"EDGESYNC_LOAD_PLUGINS={config.provider}",
        "--", str(config.path("python_bin", here)), "-m", "edgesync.edge",
    ]


def mke2fs_argv(image: Path, size_mb: int) -> list[str]:
    """The ``mke2fs`` command that makes an empty ext2 state image (it creates the file)."""
    return ["mke2fs", "-q", "-t", "ext2", "-L", "edgesync-state", "-F", str(image),
            f"{size_mb}M"]


def _index_key(name: str) -> tuple[str, int, str]:
    head, _, tail = name.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (name, -1, name)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _qemu_runs(pid: Any, name: str) -> bool:
    """Whether ``pid`` is alive and (where ``/proc`` shows it) belongs to ``name``."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        return False  # never signal a process group, init or a bad record
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not Path("/proc/self").exists():
        return True
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    word = rb"(?<![\w.-])" + re.escape(name.encode()) + rb"(?![\w.-])"
    return re.search(word, cmdline) is not None


class _Launcher:
    """What ``create``, ``list`` and ``clean`` share: settings, paths, queries."""

    def __init__(self, config: LaunchConfig, *, here: Path, out: TextIO) -> None:
        self.config = config
        self.here = Path(os.path.abspath(here))
        self.root = self.here / "instances"
        self.state_path = self.root / STATE_NAME
        self.out = out
        # Read-only queries (xl list) run even on --dry-run, and are not echoed.
        self.query = Commands(out=out)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # --- what runs ---------------------------------------------------------------

    def xl_domains(self) -> dict[str, str]:
        """Running Xen domains: name -> ``xl list`` state column."""
        lines = self.query.run(["xl", "list"], quiet=True).splitlines()
        domains = {}
        for line in lines[1:]:  # Name ID Mem VCPUs State Time(s)
            parts = line.rsplit(None, 5)
            if len(parts) == 6:
                domains[parts[0].strip()] = parts[4]
        return domains

    def status(self, records: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
        """Recorded name -> what shows it running (xl state, ``pid N``), or None."""
        domains: dict[str, str] = {}
        if any(rec.get("platform") == "xen" for rec in records.values()):
            domains = self.xl_domains()
        result: dict[str, str | None] = {}
        for name, rec in records.items():
            if rec.get("platform") == "xen":
                result[name] = f"xl state {domains[name]}" if name in domains else None
            else:
                pid = rec.get("id")
                result[name] = f"pid {pid}" if _qemu_runs(pid, name) else None
        return result

    # --- create ------------------------------------------------------------------

    def check_images(self) -> None:
        for key in ("python_bin", "python_iso", "main_iso"):
            path = self.config.path(key, self.here)
            if not path.is_file():
                raise ConfigError(f"{key} {path} not found: copy it there, or set \"{key}\" "
                                  f"in {self.here / CONFIG_NAME} to where it is")
            self.check_path(path)
        self.check_path(self.root)

    def check_path(self, path: Path) -> None:
        if _UNSAFE_PATH.search(str(path)):
            raise ConfigError(f"rumprun cannot pass the path {str(path)!r} to the instance "
                              "(its script splits on spaces, commas and quotes); move the "
                              "folder to a path without them")

    def create(self, count: int, users: Sequence[str], *, dry_run: bool) -> int:
        cfg = self.config
        self.check_images()
        plan = plan_instances(count, root=self.root, prefix=cfg.prefix,
                              base_port=cfg.base_port, users=users)
        state = read_state(self.state_path)
        records = state.setdefault("instances", {})
        running = self.status(records)
        cmds = Commands(dry_run=dry_run, out=self.out)
        for inst in plan:
            rec = records.get(inst.name)
            if rec is not None and running.get(inst.name):
                self.say(f"{inst.name}: already running ({rec.get('platform')} id "
                         f"{rec.get('id')}, {running[inst.name]}); skipped")
                continue
            fingerprint = self.prepare(inst, dry_run=dry_run)
            self.edge_iso(inst, dry_run=dry_run)
            self.state_image(inst, cmds, dry_run=dry_run)
            output = cmds.run(rumprun_argv(cfg, inst, here=self.here))
            if dry_run:
                self.say(f"{inst.name} (user {inst.user}, port {inst.port}): would be started")
            else:
                kind, ident = self.started(output, inst)
                records[inst.name] = {"name": inst.name, "platform": cfg.platform, "id": ident,
                                      "user": inst.user, "port": inst.port, "created": _now()}
                write_state(self.state_path, state)
                self.say(f"{inst.name} (user {inst.user}, port {inst.port}): started as "
                         f"{kind}:{ident}")
            self.say(self.pair_hint(inst, fingerprint))
        return 0

    def prepare(self, inst: Instance, *, dry_run: bool) -> str | None:
        cfg = self.config
        self.check_path(inst.folder)
        if dry_run:
            if (inst.edge_dir / "edge.toml").exists():
                self.say(f"{inst.name}: keeping the edge folder {inst.edge_dir}")
                cert = inst.edge_dir / "tls" / "cert.pem"
                if cert.exists():
                    from edgesync.tls import fingerprint

                    return fingerprint(cert.read_text("ascii"))
            else:
                self.say(f"{inst.name}: would prepare the edge folder {inst.edge_dir} and the "
                         f"token {inst.token_file} (user {inst.user}, provider {cfg.provider})")
            return None
        return prepare_instance(inst, provider=cfg.provider, options=cfg.provider_options,
                                listen=f"0.0.0.0:{inst.port}", plain_http=cfg.plain_http,
                                behind_proxy=cfg.plain_http, names=cfg.names)

    def edge_iso(self, inst: Instance, *, dry_run: bool) -> None:
        image = inst.folder / "edge.iso"
        if dry_run:
            self.say(f"{inst.name}: would write {image} from {inst.edge_dir}")
            return
        from edgesync_pack_rumprun.iso import write_iso

        write_iso(inst.edge_dir, image, volume_id="EDGESYNC_EDGE")

    def state_image(self, inst: Instance, cmds: Commands, *, dry_run: bool) -> None:
        image = inst.folder / "state.img"
        if image.exists():
            self.say(f"{inst.name}: keeping the state image {image} (the user's versions)")
            return
        # Made beside it and renamed, so a failed mke2fs never leaves a
        # half-made image that a later create would take for the user's.
        tmp = inst.folder / "state.img.new"
        if not dry_run:
            tmp.unlink(missing_ok=True)
        cmds.run(mke2fs_argv(tmp, self.config.state_size_mb))
        if not dry_run:
            if not tmp.is_file():
                raise PackError(f"mke2fs did not create {tmp}; use e2fsprogs 1.43 or later")
            os.replace(tmp, image)

    def started(self, output: str, inst: Instance) -> tuple[str, int]:
        kind = "xen" if self.config.platform == "xen" else "qemu"
        for found in _STARTED.finditer(output):
            if found.group(1) == kind:
                return kind, int(found.group(2))
        stop = f"'xl destroy {inst.name}'" if kind == "xen" else "kill on its qemu process"
        raise PackError(f"rumprun printed no '{kind}:<id>' line for {inst.name}, so it is not "
                        f"recorded; if it runs, stop it by hand ({stop}). rumprun said: "
                        f"{output.strip()[-500:] or '(nothing)'}")

    def pair_hint(self, inst: Instance, fingerprint: str | None) -> str:
        cfg = self.config
        token = f"--token - < {inst.token_file}"
        if cfg.plain_http:
            return (f"  {inst.name} serves plain HTTP on port {inst.port}: put a TLS-terminating "
                    "proxy in front, then pair a device through it:\n"
                    f"    edgesync pair https://PROXY:PORT --root ~/edgesync {token}")
        if cfg.names:
            host, note = cfg.names[0], ""
        elif cfg.platform == "xen" or cfg.bridge is not None:
            host = "ADDRESS"
            note = (f"\n    (ADDRESS: the address {inst.name} gets by DHCP on bridge "
                    f"{cfg.bridge})")
        else:
            host, note = "HOST", "\n    (HOST: this machine's name or address)"
        fp = fingerprint or "FINGERPRINT"
        return (f"  pair a device (copy {inst.token_file} to it first; it is {inst.user}'s "
                "secret):\n"
                f"    edgesync pair https://{host}:{inst.port} --fingerprint {fp} "
                f"--root ~/edgesync {token}{note}")

    # --- list ----------------------------------------------------------------------

    def list(self, *, as_json: bool) -> int:
        records = read_state(self.state_path).get("instances", {})
        running = self.status(records)
        rows = []
        for name in sorted(records, key=_index_key):
            rec = records[name]
            rows.append({"name": name, "platform": rec.get("platform"), "id": rec.get("id"),
                         "user": rec.get("user"), "port": rec.get("port"),
                         "created": rec.get("created"), "running": running[name] is not None,
                         "detail": running[name] or "not running"})
        if as_json:
            self.say(json.dumps(rows, indent=1))
            return 0
        if not rows:
            self.say(f"no instances recorded in {self.state_path}; start some with "
                     "'./launch create N'")
            return 0
        header = ("NAME", "USER", "PORT", "PLATFORM", "ID", "RUNNING", "CREATED")
        table = [header] + [(r["name"], r["user"], r["port"], r["platform"], r["id"],
                             r["detail"] if r["running"] else "no", r["created"])
                            for r in rows]
        widths = [max(len(str(row[col])) for row in table) for col in range(len(header))]
        for row in table:
            self.say("  ".join(str(cell).ljust(width)
                               for cell, width in zip(row, widths, strict=True)).rstrip())
        return 0

    # --- clean ---------------------------------------------------------------------

    def clean(self, *, dry_run: bool, purge: bool) -> int:
        state = read_state(self.state_path)
        records = state.setdefault("instances", {})
        domains: dict[str, str] = {}
        if any(rec.get("platform") == "xen" for rec in records.values()) or (
                purge and self.config.platform == "xen"):
            domains = self.xl_domains()
        cmds = Commands(dry_run=dry_run, out=self.out)
        if not records:
            self.say(f"no instances recorded in {self.state_path}")
        stopped = set()
        for name in sorted(records, key=_index_key):
            rec = records[name]
            if rec.get("platform") == "xen":
                if name in domains:
                    cmds.run(["xl", "destroy", name])
                    self.say(f"{name}: {'would be destroyed' if dry_run else 'destroyed'}")
                    domains.pop(name)
                else:
                    self.say(f"{name}: not running (xl list does not show it)")
            else:
                pid = rec.get("id")
                if _qemu_runs(pid, name):
                    self.say(f"kill -TERM {pid}  # the qemu process of {name}")
                    if not dry_run:
                        self.terminate(pid, name)
                    self.say(f"{name}: {'would be stopped' if dry_run else 'stopped'}")
                else:
                    self.say(f"{name}: not running (pid {pid} is gone or is another program)")
            stopped.add(name)
            if not dry_run:
                del records[name]
                write_state(self.state_path, state)
        if not purge:
            if stopped:
                self.say(f"kept the instance folders (tokens, state images) in {self.root}; "
                         "a later create reuses them, 'clean --purge' deletes them")
            return 0
        return self.purge(records, stopped, domains, dry_run=dry_run)

    def terminate(self, pid: int, name: str) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            raise PackError(f"not allowed to stop pid {pid} ({name}); run the launcher as the "
                            "user who started it") from exc
        deadline = time.monotonic() + _STOP_WAIT
        while time.monotonic() < deadline and _qemu_runs(pid, name):
            time.sleep(0.02)
        if _qemu_runs(pid, name):
            raise PackError(f"{name}: pid {pid} is still running {_STOP_WAIT:.0f} s after "
                            f"SIGTERM; stop it with 'kill -KILL {pid}', then clean again")

    def purge(self, records: Mapping[str, Any], stopped: set[str], domains: Mapping[str, str],
              *, dry_run: bool) -> int:
        if not self.root.is_dir():
            self.say(f"nothing to delete: {self.root} does not exist")
            return 0
        own = re.compile(re.escape(self.config.prefix) + r"-[0-9]+")
        for folder in sorted(self.root.iterdir(), key=lambda p: _index_key(p.name)):
            if not folder.is_dir() or not own.fullmatch(folder.name):
                continue
            if folder.name in records and folder.name not in stopped:
                continue
            if folder.name in domains:
                self.say(f"kept {folder}: a Xen domain {folder.name} runs that this launcher "
                         "did not record; stop it yourself, then purge again")
                continue
            if dry_run:
                self.say(f"would delete {folder} (edge folder, token, state image)")
            else:
                shutil.rmtree(folder)
                self.say(f"deleted {folder} (edge folder, token, state image)")
        if not dry_run and not records:
            if self.state_path.exists():
                self.state_path.unlink()
                self.say(f"deleted {self.state_path}")
            try:
                self.root.rmdir()
            except OSError:
                pass  # something else is still in it: leave it
        return 0


_EPILOG = """\
examples:
  ./launch create 2 --user alice --user bob   start 2 edges, for alice and bob
  ./launch create 3 --dry-run                 show what create would make and run
  ./launch list                               the recorded instances; which run
  ./launch list --json                        the same, for scripts
  ./launch clean                              stop them; tokens, state images kept
  ./launch clean --purge                      stop them and delete all their files

Settings (platform, bridge, ports, provider...) are in launch.json beside this
script; instances live in instances/PREFIX-I/ and what was started is recorded
in instances/state.json. Xen needs root (xl); QEMU with a bridge needs the
bridge allowed in /etc/qemu/bridge.conf.
"""

_CREATE_EPILOG = """\
Instance I is named PREFIX-I, serves port BASE_PORT+I-1 and, unless --user
gives the I-th user, user "userI" (or the user it served before). Instances
already running are skipped; an instance's edge folder, token and state image
are made once and kept, so 'create' after 'clean' starts the same edges again.

examples:
  ./launch create 1                      one edge, for user1
  ./launch create 2 --user alice --user bob
  ./launch create 4 --dry-run            print the commands; write nothing
"""

_CLEAN_EPILOG = """\
Only instances recorded in instances/state.json are stopped: on Xen with
'xl destroy NAME' (when 'xl list' shows NAME), on KVM/QEMU with SIGTERM to the
recorded pid (when that process still belongs to the instance). Other domains
and processes are never touched.

examples:
  ./launch clean --dry-run               show what would be stopped
  ./launch clean --purge                 also delete tokens and state images
"""


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="launch", formatter_class=raw, epilog=_EPILOG,
        description="Start, list and stop rumprun unikernel edgesync edges, one per user.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = sub.add_parser(
        "create", formatter_class=raw, epilog=_CREATE_EPILOG,
        help="prepare and start N instances",
        description="Prepare (once) and start instances 1..N, and show how to pair devices.")
    create.add_argument("count", type=int, metavar="N", nargs="?",
                        help="the number of instances (default: launch.json's \"instances\", "
                             "from edgesync-pack rumprun --instances)")
    create.add_argument("--user", dest="users", action="append", default=[], metavar="NAME",
                        help="the next instance's user (repeat: one per instance, in order)")
    create.add_argument("--dry-run", action="store_true",
                        help="print what would be prepared and the commands; change nothing")
    listing = sub.add_parser("list", help="the recorded instances and whether they run",
                             description="Show the recorded instances and whether each runs.")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    clean = sub.add_parser(
        "clean", formatter_class=raw, epilog=_CLEAN_EPILOG,
        help="stop the recorded instances",
        description="Stop the instances this launcher recorded, and forget them.")
    clean.add_argument("--dry-run", action="store_true",
                       help="print what would be stopped and deleted; change nothing")
    clean.add_argument("--purge", action="store_true",
                       help="also delete the instance folders: edge folders, tokens and "
                            "state images (the users' versions)")
    return parser


def main(argv: Sequence[str] | None = None, *, here: Path) -> int:
    """Run ``launch create|list|clean``; return the exit status.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :param here: the folder ``edgesync-pack rumprun --out`` made (``launch.json``).
    :returns: 0; 2 for a usage or settings error; 1 when a command failed.
        Errors are printed to standard error as ``edgesync-pack: MESSAGE``.
    """
    parser = _parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        config = LaunchConfig.load(Path(here) / CONFIG_NAME)
        launcher = _Launcher(config, here=Path(here), out=sys.stdout)
        if args.command == "create":
            count = config.instances if args.count is None else args.count
            return launcher.create(count, args.users, dry_run=args.dry_run)
        if args.command == "list":
            return launcher.list(as_json=args.json)
        return launcher.clean(dry_run=args.dry_run, purge=args.purge)
    except ConfigError as exc:
        print(f"edgesync-pack: {exc}", file=sys.stderr)
        return 2
    except EdgesyncError as exc:
        print(f"edgesync-pack: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"edgesync-pack: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
