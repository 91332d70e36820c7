"""Registers the ``docker`` target with ``edgesync-pack``."""

from __future__ import annotations

from collections.abc import Iterable

from edgesync.hookspecs import hookimpl
from edgesync.types import PackTarget


def _command():
    from edgesync_pack_docker.cli import pack_docker

    return pack_docker


@hookimpl
def edgesync_pack_targets() -> Iterable[PackTarget]:
    """The ``docker`` target."""
    yield PackTarget(name="docker", command=_command,
                     summary="container images of the edge, a launcher for N, compose, "
                             "Kubernetes")
