"""The edge's configuration: ``edge.toml`` in the edge's folder, plus command-line overrides.

The file is written, with comments, by ``edgesync edge init``; its tables::

    mode = "personal"            # or "multi-user"
    user = "me"                  # personal mode: the one user

    [server]
    listen = "0.0.0.0:8443"      # host:port
    tls = true                   # false only on loopback or behind_proxy
    behind_proxy = false         # a TLS-terminating proxy is in front
    threads = 16
    access_log = "-"             # "-" = standard error, else a file

    [provider]
    name = "local"
    [provider.options]           # the provider's own options; "{user}" is replaced
    root = "/srv/edgesync/cloud/{user}"

    [limits]
    max_file_size = "1 GiB"
    max_delta_size = "256 MiB"

    [upload]
    attempts = 4                 # tries within a request
    max_wait = 30                # longest retry_after honoured within a request (s)

    [users.alice.provider_options]   # multi-user mode: per-user overrides
    root = "/srv/alice-cloud"

Everything here is parsed in this module and nowhere else; a bad value is a
:class:`~edgesync.errors.ConfigError` that names the key and says what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from edgesync.errors import ConfigError

__all__ = ["CONFIG_NAME", "EdgeConfig", "parse_listen", "parse_size", "valid_user"]

#: The configuration file's name inside the edge's folder.
CONFIG_NAME = "edge.toml"

_USER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6,
          "mib": 1 << 20, "g": 10**9, "gb": 10**9, "gib": 1 << 30}


def valid_user(name: str) -> str:
    """Check a user name: ``[a-z0-9][a-z0-9._-]{0,63}`` (it names a folder).

    :raises ConfigError: with the rule.
    """
    if not isinstance(name, str) or not _USER.match(name):
        raise ConfigError(f"user name {name!r} is not allowed: use 1-64 lower-case letters, "
                          "digits, '.', '_' or '-', starting with a letter or digit")
    return name


def parse_size(value: int | str, key: str) -> int:
    """``1048576``, ``"1 MiB"``, ``"250MB"`` -> bytes.

    :raises ConfigError: not a size.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    if match and match.group(2).lower() in _UNITS:
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
        if size > 0:
            return size
    raise ConfigError(f"{key} = {value!r} is not a size; write bytes or e.g. \"256 MiB\"")


def parse_listen(value: str) -> tuple[str, int]:
    """``"0.0.0.0:8443"``, ``"[::1]:8443"`` -> (host, port).

    :raises ConfigError: not host:port.
    """
    match = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", value or "")
    if not match or int(match.group(2)) > 65535:
        raise ConfigError(f"listen = {value!r}: write HOST:PORT, e.g. 0.0.0.0:8443 or "
                          "[::1]:8443 (port 0 picks a free one)")
    return match.group(1) or "0.0.0.0", int(match.group(2))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.frozen(kw_only=True)
class EdgeConfig:
    """A checked edge configuration. Build it with :meth:`load` or :meth:`from_mapping`.

    :ivar dir: the edge's folder (configuration, certificate, tokens, versions).
    :ivar state_dir: where the versions are kept instead, when the edge's folder
        is read-only (a container's mounted secret, a unikernel's ISO); None
        keeps them in ``dir``.
    :ivar mode: ``"personal"`` (one user, as in the paper) or ``"multi-user"``.
    :ivar user: personal mode: the name of the one user.
    :ivar host: address to listen on.
    :ivar port: port to listen on (0: any free port).
    :ivar tls: serve HTTPS with the edge's certificate.
    :ivar behind_proxy: a TLS-terminating proxy is in front (allows plain HTTP
        on a non-loopback address).
    :ivar threads: worker threads (concurrent requests).
    :ivar access_log: ``"-"`` for standard error, or a file to append to.
    :ivar provider: the provider's registered name.
    :ivar provider_options: its options table (``{user}`` is replaced by the user's name).
    :ivar user_options: multi-user mode: per-user overrides of the provider options.
    :ivar max_file_size: largest file accepted or rebuilt, in bytes.
    :ivar max_delta_size: largest delta body accepted, in bytes.
    :ivar upload_attempts: provider tries within one request.
    :ivar max_wait: longest ``retry_after`` honoured within a request, in seconds.
    :ivar fsync: flush every stored version to disk before acknowledging it.
    """

    dir: Path
    state_dir: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(lambda p: Path(p).expanduser()))
    mode: str = "personal"
    user: str = "me"
    host: str = "0.0.0.0"
    port: int = 8443
    tls: bool = True
    behind_proxy: bool = False
    threads: int = 16
    access_log: str = "-"
    provider: str = "local"
    provider_options: Mapping[str, Any] = attrs.field(factory=dict)
    user_options: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    max_file_size: int = 1 << 30
    max_delta_size: int = 256 << 20
    upload_attempts: int = 4
    max_wait: float = 30.0
    fsync: bool = True

    @property
    def cert_path(self) -> Path:
        """The edge's certificate (PEM)."""
        return self.dir / "tls" / "cert.pem"

    @property
    def key_path(self) -> Path:
        """The certificate's private key (PEM, readable by the owner only)."""
        return self.dir / "tls" / "key.pem"

    @property
    def tokens_path(self) -> Path:
        """The hashed bearer tokens."""
        return self.dir / "tokens.json"

    @property
    def state_root(self) -> Path:
        """The folder that holds the version stores: ``state_dir``, else ``dir``."""
        return self.state_dir if self.state_dir is not None else self.dir

    def store_dir(self, user: str) -> Path:
        """Where ``user``'s versions are kept."""
        root = self.state_root
        return root / "store" if self.mode == "personal" else root / "users" / user / "store"

    def options_for(self, user: str) -> dict[str, Any]:
        """The provider options for ``user``: the table, ``{user}`` filled in, then overrides."""
        options = {key: value.replace("{user}", user) if isinstance(value, str) else value
                   for key, value in self.provider_options.items()}
        options.update(self.user_options.get(user, {}))
        return options

    @classmethod
    def load(cls, folder: Path | str, **overrides: Any) -> EdgeConfig:
        """Read ``edge.toml`` from ``folder`` and apply command-line overrides.

        :param folder: the edge's folder.
        :param overrides: field values that win over the file (``None`` values are ignored).
        :raises ConfigError: no such file, bad TOML, or a bad value.
        """
        folder = Path(folder).expanduser()
        path = folder / CONFIG_NAME
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist; create the edge first with "
                              f"'edgesync edge init {folder}'") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        return cls.from_mapping(data, folder, **overrides)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], folder: Path | str,
                     **overrides: Any) -> EdgeConfig:
        """Check a parsed ``edge.toml`` (see :meth:`load`)."""
        data = dict(data)
        server = dict(_table(data, "server"))
        provider = dict(_table(data, "provider"))
        limits = dict(_table(data, "limits"))
        upload = dict(_table(data, "upload"))
        users = dict(_table(data, "users"))
        values: dict[str, Any] = {"dir": Path(folder).expanduser().resolve()}
        _take(values, data, {"mode": str, "user": str, "fsync": bool}, "")
        if "listen" in server:
            values["host"], values["port"] = parse_listen(_typed(server.pop("listen"), str,
                                                                 "server.listen"))
        _take(values, server, {"tls": bool, "behind_proxy": bool, "threads": int,
                               "access_log": str}, "server.")
        _unknown(server, "server.")
        values["provider"] = _typed(provider.pop("name", "local"), str, "provider.name")
        values["provider_options"] = dict(_table(provider, "options", "provider.options"))
        _unknown(provider, "provider.")
        for key in ("max_file_size", "max_delta_size"):
            if key in limits:
                values[key] = parse_size(limits.pop(key), f"limits.{key}")
        _unknown(limits, "limits.")
        if "attempts" in upload:
            values["upload_attempts"] = _typed(upload.pop("attempts"), int, "upload.attempts")
        if "max_wait" in upload:
            values["max_wait"] = float(_typed(upload.pop("max_wait"), (int, float),
                                              "upload.max_wait"))
        _unknown(upload, "upload.")
        user_options = {}
        for name, table in users.items():
            valid_user(name)
            table = dict(_table({"t": table}, "t", f"users.{name}"))
            user_options[name] = dict(_table(table, "provider_options",
                                             f"users.{name}.provider_options"))
            _unknown(table, f"users.{name}.")
        values["user_options"] = user_options
        _unknown(data, "")
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls._checked(cls(**values))

    @classmethod
    def _checked(cls, config: EdgeConfig) -> EdgeConfig:
        if config.mode not in ("personal", "multi-user"):
            raise ConfigError(f"mode = {config.mode!r}: use \"personal\" or \"multi-user\"")
        valid_user(config.user)
        if not 1 <= config.threads <= 1024:
            raise ConfigError(f"server.threads = {config.threads}: use 1 to 1024")
        if config.upload_attempts < 1:
            raise ConfigError("upload.attempts must be at least 1")
        if config.max_wait < 0:
            raise ConfigError(f"upload.max_wait = {config.max_wait}: use 0 or more seconds")
        if not config.tls and not config.behind_proxy and not _is_loopback(config.host):
            raise ConfigError(
                f"plain HTTP on {config.host} would send bearer tokens in clear over the "
                "network; keep TLS on, listen on 127.0.0.1, or set server.behind_proxy = true "
                "when a TLS-terminating proxy is in front")
        if config.mode == "multi-user":
            shared = [key for key, value in config.provider_options.items()
                      if isinstance(value, str) and "{user}" in value]
            if not shared and config.provider_options and not config.user_options:
                raise ConfigError(
                    "multi-user mode: every user needs their own cloud folder or account; put "
                    "{user} in a [provider.options] value (e.g. root = \"/srv/cloud/{user}\") "
                    "or give [users.NAME.provider_options] per user")
        return config


def _table(data: dict[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = data.pop(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{where or key}] must be a table")
    return value


def _typed(value: Any, kind: type | tuple[type, ...], key: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{key} = {value!r} must be a {names}")
    return value


def _take(values: dict[str, Any], table: dict[str, Any], keys: Mapping[str, type],
          prefix: str) -> None:
    for key, kind in keys.items():
        if key in table:
            values[key] = _typed(table.pop(key), kind, prefix + key)


def _unknown(table: Mapping[str, Any], prefix: str) -> None:
    if table:
        raise ConfigError(f"unknown setting(s): {', '.join(prefix + key for key in table)}")
