"""The Dropbox hosts of the emulator, and a session that reaches them.

The SDK hard-codes ``https://<host>/...``; a session from :func:`loopback_session`
sends that traffic to the emulator over loopback, through
:class:`edgesync.testing.emulation.LoopbackAdapter`.
"""

from __future__ import annotations

import requests

from edgesync.testing.emulation import LoopbackAdapter
from edgesync.testing.emulation import loopback_session as _loopback_session
from edgesync_dropbox.testing._wire import HOSTS

__all__ = ["PREFIXES", "LoopbackAdapter", "loopback_session"]

#: The URL prefixes the loopback session reroutes.
PREFIXES = tuple(f"https://{host}/" for host in HOSTS.values())


def loopback_session(url: str) -> requests.Session:
    """A new session whose Dropbox traffic goes to the emulator at ``url``.

    For an emulator in another process (``python -m edgesync_dropbox.testing``);
    in-process, :meth:`DropboxEmulator.session` is the same thing.

    :param url: the emulator's address, ``"http://127.0.0.1:PORT"``.
    :returns: a :class:`requests.Session` with :class:`LoopbackAdapter` mounted
        for ``https://api.dropboxapi.com/``, ``https://content.dropboxapi.com/``,
        ``https://notify.dropboxapi.com/`` and ``https://www.dropbox.com/``.
    :raises ValueError: ``url`` has no port.
    """
    return _loopback_session(url, PREFIXES)
