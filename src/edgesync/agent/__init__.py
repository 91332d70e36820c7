"""The device side: push each save to the edge as a delta, and never lose one.

- :class:`Agent` -- ``push``, ``delete``, ``drain`` (the offline outbox), ``status``.
- :class:`EdgeClient` -- the edge's HTTP API with a pinned certificate.
- :class:`AgentConfig` -- the paired edge and the synced folder, in TOML.
- :class:`Watcher` -- pushes saves as they happen (``edgesync watch``).
- :class:`PushResult`, :class:`FileStatus`, :class:`Outbox` -- what they report and keep.
"""

from edgesync.agent.client import EdgeClient
from edgesync.agent.config import AgentConfig
from edgesync.agent.core import Agent, FileStatus, Outbox, PushResult
from edgesync.agent.watch import Watcher

__all__ = ["Agent", "AgentConfig", "EdgeClient", "FileStatus", "Outbox", "PushResult", "Watcher"]
