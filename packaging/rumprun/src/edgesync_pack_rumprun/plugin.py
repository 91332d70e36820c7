"""Registers the ``rumprun`` target with ``edgesync-pack``."""

from __future__ import annotations

from collections.abc import Iterable

from edgesync.hookspecs import hookimpl
from edgesync.types import PackTarget


def _command():
    from edgesync_pack_rumprun.cli import pack_rumprun

    return pack_rumprun


@hookimpl
def edgesync_pack_targets() -> Iterable[PackTarget]:
    """The ``rumprun`` target."""
    yield PackTarget(name="rumprun", command=_command,
                     summary="a rumprun unikernel ISO of the edge, and a launcher for N")
