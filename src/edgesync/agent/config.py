"""The device's configuration: which edge, which certificate, which folder.

``edgesync pair`` writes it; every other command reads it. It lives in
``agent.toml`` in the platform's configuration folder for edgesync (or where
``$EDGESYNC_CONFIG`` points)::

    [edge]
    url = "https://edge.home.arpa:8443"
    fingerprint = "41:8D:AF:...:9B:A2"     # the pinned certificate
    token_file = "/home/ana/.config/edgesync/token"   # or: keyring = true
    timeout = 30
    retries = 3

    [sync]
    root = "/home/ana/Documents"
    state_dir = "/home/ana/.local/share/edgesync/agent"

    [watch]
    debounce = 1.0
    propagate_deletes = false
    max_deletes = 20
    drain_interval = 10

The token is never in this file: it is in ``token_file``, readable by its
owner only, or in the system keyring when the ``keyring`` package and a
backend are present.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import attrs

from edgesync._fs import atomic_write
from edgesync.errors import ConfigError

__all__ = ["AgentConfig", "KEYRING_SERVICE", "default_config_path", "default_state_dir"]

#: The keyring service name under which tokens are stored (username: the edge URL).
KEYRING_SERVICE = "edgesync"


def default_config_path() -> Path:
    """``$EDGESYNC_CONFIG``, else ``agent.toml`` in the platform's config folder."""
    if os.environ.get("EDGESYNC_CONFIG"):
        return Path(os.environ["EDGESYNC_CONFIG"]).expanduser()
    import platformdirs

    return platformdirs.user_config_path("edgesync") / "agent.toml"


def default_state_dir() -> Path:
    """Where the agent keeps shadows and its outbox: the platform's data folder."""
    import platformdirs

    return platformdirs.user_data_path("edgesync") / "agent"


def _keyring() -> Any | None:
    """The keyring module, if installed and backed by a real store."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # not installed, or broken: the token goes to a file
        return None
    try:
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
    except Exception:
        return None
    return keyring


@attrs.frozen(kw_only=True)
class AgentConfig:
    """A paired device.

    :ivar url: the edge's base URL.
    :ivar fingerprint: the edge certificate's SHA-256 fingerprint (``None`` for
        a plain-HTTP edge on loopback).
    :ivar root: the synced folder.
    :ivar state_dir: shadows, outbox and counters.
    :ivar token_file: the file holding the token, or ``None`` when it is in the keyring.
    :ivar timeout: seconds to wait for the edge.
    :ivar retries: tries after a failed connection before a save is queued.
    :ivar debounce: seconds of quiet after a write before ``watch`` pushes it.
    :ivar propagate_deletes: ``watch`` deletes at the edge what is deleted here.
    :ivar max_deletes: more deletes than this at once wait for confirmation.
    :ivar drain_interval: seconds between tries to send queued saves.
    """

    url: str
    fingerprint: str | None
    root: Path
    state_dir: Path
    token_file: Path | None = None
    timeout: float = 30.0
    retries: int = 3
    debounce: float = 1.0
    propagate_deletes: bool = False
    max_deletes: int = 20
    drain_interval: float = 10.0

    # --- files -------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> AgentConfig:
        """Read the configuration.

        :raises ConfigError: no configuration (pair first), or a bad value.
        """
        path = path or default_config_path()
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"this device is not paired with an edge ({path} does not "
                              "exist); run 'edgesync pair URL' first") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        edge, sync, watch = (data.get(key, {}) for key in ("edge", "sync", "watch"))
        try:
            token_file = edge.get("token_file")
            return cls(url=str(edge["url"]), fingerprint=edge.get("fingerprint"),
                       root=Path(sync["root"]), state_dir=Path(sync["state_dir"]),
                       token_file=Path(token_file) if token_file else None,
                       timeout=float(edge.get("timeout", 30.0)),
                       retries=int(edge.get("retries", 3)),
                       debounce=float(watch.get("debounce", 1.0)),
                       propagate_deletes=bool(watch.get("propagate_deletes", False)),
                       max_deletes=int(watch.get("max_deletes", 20)),
                       drain_interval=float(watch.get("drain_interval", 10.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: missing or bad setting {exc}; pair again with "
                              "'edgesync pair URL'") from exc

    def save(self, path: Path | None = None) -> Path:
        """Write the configuration (atomically); return where."""
        import tomli_w

        path = path or default_config_path()
        edge: dict[str, Any] = {"url": self.url, "timeout": self.timeout,
                                "retries": self.retries}
        if self.fingerprint:
            edge["fingerprint"] = self.fingerprint
        if self.token_file:
            edge["token_file"] = str(self.token_file)
        else:
            edge["keyring"] = True
        data = {"edge": edge,
                "sync": {"root": str(self.root), "state_dir": str(self.state_dir)},
                "watch": {"debounce": self.debounce, "propagate_deletes": self.propagate_deletes,
                          "max_deletes": self.max_deletes,
                          "drain_interval": self.drain_interval}}
        atomic_write(path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)
        return path

    # --- the token ---------------------------------------------------------------

    @staticmethod
    def store_token(url: str, token: str, token_file: Path, *,
                    use_keyring: bool = True) -> Path | None:
        """Keep ``token``: in the keyring when one is usable, else in ``token_file`` (0600).

        :returns: the file written, or ``None`` when the keyring took it.
        """
        keyring = _keyring() if use_keyring else None
        if keyring is not None:
            keyring.set_password(KEYRING_SERVICE, url, token)
            return None
        atomic_write(token_file, token.encode("ascii") + b"\n", mode=0o600)
        os.chmod(token_file, 0o600)
        return token_file

    def token(self) -> str:
        """The bearer token.

        :raises ConfigError: it cannot be read (the message says to pair again).
        """
        if self.token_file is None:
            keyring = _keyring()
            value = keyring.get_password(KEYRING_SERVICE, self.url) if keyring else None
            if not value:
                raise ConfigError(f"no token for {self.url} in the system keyring; pair "
                                  "again with 'edgesync pair'")
            return value
        try:
            return self.token_file.read_text("ascii").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {self.token_file} "
                              f"({exc.strerror}); pair again with 'edgesync pair'") from exc

    # --- the objects -------------------------------------------------------------

    def client(self, **overrides: Any) -> Any:
        """An :class:`~edgesync.agent.EdgeClient` for this edge."""
        from edgesync.agent.client import EdgeClient

        options = {"fingerprint": self.fingerprint, "timeout": self.timeout,
                   "retries": self.retries, **overrides}
        return EdgeClient(self.url, self.token(), **options)

    def agent(self, **client_overrides: Any) -> Any:
        """An :class:`~edgesync.agent.Agent` for this device's folder and edge."""
        from edgesync.agent.core import Agent

        return Agent(self.root, self.state_dir, self.client(**client_overrides))
