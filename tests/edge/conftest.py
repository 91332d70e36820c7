"""A real edge on loopback for each test: cheroot, TLS with a pinned certificate, real HTTP.

``make_edge(...)`` starts an :class:`~edgesync.edge.EdgeServer` in this
process (its own threads, its own socket) and returns an :class:`Edge` handle::

    tmp_path/
      edge/               the edge's folder: edge.toml values, tls/, tokens.json, store/
      cloud/              the local provider's root (personal mode)
      cloud/<user>/       (multi-user mode)

Its provider is ``faulty-local``: the local provider wrapped in a
:class:`~edgesync.testing.fakes.FaultyProvider`, so a test can make the cloud
fail; without queued faults it is the local provider, unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from edgesync.edge import EdgeConfig, EdgeServer, RetryPolicy, TokenStore
from edgesync.hookspecs import hookimpl
from edgesync.plugins import PluginHost
from edgesync.providers.local import LocalOptions, LocalProvider
from edgesync.testing.fakes import FaultyProvider
from edgesync.tls import pinned_session
from edgesync.types import ProviderSpec

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_wait=1.0,
                   background_max_delay=0.2)


class FaultyLocalPlugin:
    """A test plugin: ``faulty-local``, the local provider behind a FaultyProvider."""

    def __init__(self) -> None:
        self.providers: dict[str, FaultyProvider] = {}  # root -> provider

    def _make(self, options: LocalOptions) -> FaultyProvider:
        provider = FaultyProvider(LocalProvider(options))
        self.providers[str(Path(options.root).resolve())] = provider
        return provider

    @hookimpl
    def edgesync_providers(self):
        yield ProviderSpec(name="faulty-local", factory=self._make, options_type=LocalOptions,
                           description="local behind FaultyProvider (tests)")


@attrs.define
class Edge:
    """A running edge and what a test needs to talk to it and look inside."""

    server: EdgeServer
    config: EdgeConfig
    cloud: Path
    plugin: FaultyLocalPlugin
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def session(self, user: str = "me", *, token: str | None = None):
        session = pinned_session(self.server.fingerprint)
        session.headers["Authorization"] = f"Bearer {token or self.tokens[user]}"
        return session

    def cloud_of(self, user: str = "me") -> Path:
        return self.cloud if self.config.mode == "personal" else self.cloud / user

    def faults(self, user: str = "me") -> FaultyProvider:
        self.server.service.user(user)  # multi-user mode builds a user's provider on first use
        return self.plugin.providers[str(self.cloud_of(user).resolve())]

    def file_url(self, path: str) -> str:
        return f"{self.url}/v1/files/{path}"

    def store_dir(self, user: str = "me") -> Path:
        return self.config.store_dir(user)


def snapshot(*folders: Path) -> dict[str, str]:
    """SHA-256 of every file under the folders (what 'nothing changed' compares)."""
    result = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                result[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


@pytest.fixture
def make_edge(tmp_path, tls_files) -> Iterator[Any]:
    started: list[EdgeServer] = []

    def make(*, mode: str = "personal", users: tuple[str, ...] = ("me",), tls: bool = True,
             policy: RetryPolicy = FAST, folder: str = "edge", **settings: Any) -> Edge:
        edge_dir = tmp_path / folder
        cloud = tmp_path / "cloud"
        (edge_dir / "tls").mkdir(parents=True, exist_ok=True)
        for source in tls_files:
            shutil.copy(source, edge_dir / "tls" / source.name)
        root = str(cloud / "{user}") if mode == "multi-user" else str(cloud)
        data = {"mode": mode, "user": users[0], "fsync": False,
                "server": {"listen": "127.0.0.1:0", "tls": tls, "threads": 8},
                "provider": {"name": "faulty-local", "options": {"root": root, "fsync": False}}}
        config = EdgeConfig.from_mapping(data, edge_dir, **settings)
        store = TokenStore(config.tokens_path)
        tokens = {user: store.add(user)[0] for user in users}
        plugin = FaultyLocalPlugin()
        host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": ""}).load()
        host.register(plugin, name="faulty-local", distribution="tests")
        server = EdgeServer(config, host=host, policy=policy, poll_interval=0.02).start()
        started.append(server)
        return Edge(server=server, config=config, cloud=cloud, plugin=plugin, tokens=tokens)

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def edge(make_edge) -> Edge:
    """A personal-mode edge for the user ``me``."""
    return make_edge()
