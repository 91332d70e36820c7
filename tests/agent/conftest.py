"""A real edge on loopback for the agent's tests, and an agent paired with it.

``edge`` starts an :class:`~edgesync.edge.EdgeServer` in this process with
the ``local`` provider, TLS with a certificate made once per session, and a
fixed port, so that a test can stop it (the device goes offline) and start it
again where the agent expects it::

    tmp_path/
      edge/      the edge's folder: tls/, tokens.json, store/
      cloud/     the local provider's root: what "the cloud" holds
      device/    the agent's sync root
      state/     the agent's shadows, outbox and counters
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgesync.agent import Agent, EdgeClient
from edgesync.edge import EdgeConfig, EdgeServer, RetryPolicy, TokenStore
from edgesync.plugins import PluginHost
from edgesync.testing.edge import free_port

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_wait=1.0,
                   background_max_delay=0.2)

class Edge:
    """A real edge on a fixed loopback port that a test can stop and start again.

    :param folder: the edge's folder.
    :param cloud: the local provider's root.
    :param tls_files: the certificate and key to serve.
    """

    def __init__(self, folder: Path, cloud: Path, tls_files: tuple[Path, Path]) -> None:
        self.folder, self.cloud = folder, cloud
        (folder / "tls").mkdir(parents=True, exist_ok=True)
        cloud.mkdir(parents=True, exist_ok=True)
        for source in tls_files:
            shutil.copy(source, folder / "tls" / source.name)
        self.port = free_port()
        data = {"mode": "personal", "user": "me", "fsync": False,
                "server": {"listen": f"127.0.0.1:{self.port}", "tls": True, "threads": 8},
                "provider": {"name": "local", "options": {"root": str(cloud), "fsync": False}}}
        self.config = EdgeConfig.from_mapping(data, folder)
        self.token = TokenStore(self.config.tokens_path).add("me")[0]
        self.log = io.StringIO()
        self.server: EdgeServer | None = None
        self.fingerprint: str | None = None
        self.clients: list[EdgeClient] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> Edge:
        assert self.server is None, "the edge is running already"
        host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": ""}).load()
        self.server = EdgeServer(self.config, host=host, policy=FAST, log_stream=self.log,
                                 poll_interval=0.02).start()
        assert self.server.address[1] == self.port
        self.fingerprint = self.server.fingerprint
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self) -> EdgeClient:
        """A client as a paired device has it: pinned, one quick retry, no real sleeping."""
        client = EdgeClient(self.url, self.token, fingerprint=self.fingerprint, timeout=10,
                            retries=1, sleep=lambda seconds: None)
        self.clients.append(client)
        return client

    def close(self) -> None:
        """Stop the edge and close the clients' connections."""
        self.stop()
        for client in self.clients:
            client.session.close()

    def cloud_files(self) -> dict[str, bytes]:
        """What the cloud holds: relative path -> content (the provider's own folder left out)."""
        # os.walk, not rglob: the provider removes emptied folders while a test
        # polls, and os.walk passes over a folder that vanished.
        files = {}
        for folder, dirs, names in os.walk(self.cloud):
            dirs[:] = [name for name in dirs if name != ".edgesync-local"]
            for name in names:
                path = Path(folder, name)
                try:
                    files[path.relative_to(self.cloud).as_posix()] = path.read_bytes()
                except FileNotFoundError:
                    continue  # deleted meanwhile
        return dict(sorted(files.items()))


@pytest.fixture
def edge(tmp_path, tls_files) -> Iterator[Edge]:
    """A running personal-mode edge for the user ``me``; its cloud is ``tmp_path/"cloud"``."""
    handle = Edge(tmp_path / "edge", tmp_path / "cloud", tls_files).start()
    yield handle
    handle.close()


@pytest.fixture
def make_agent(tmp_path, edge) -> Callable[..., Agent]:
    """Build an agent on ``tmp_path/root`` with its state in ``tmp_path/state``."""

    def make(root: str = "device", state: str = "state") -> Agent:
        (tmp_path / root).mkdir(exist_ok=True)
        return Agent(root=tmp_path / root, state_dir=tmp_path / state, client=edge.client())

    return make


@pytest.fixture
def agent(make_agent) -> Agent:
    """The device's agent: sync root ``tmp_path/"device"``, state ``tmp_path/"state"``."""
    return make_agent()
