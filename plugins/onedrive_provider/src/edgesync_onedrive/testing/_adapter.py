"""The Entra ID and Graph hosts of the emulator, and a session that reaches them.

MSAL and Graph clients use ``https://login.microsoftonline.com/...``,
``https://graph.microsoft.com/...`` and the upload and download URLs Graph
hands out; a session from :func:`loopback_session` sends that traffic to the
emulator over loopback, through :class:`edgesync.testing.emulation.LoopbackAdapter`.
"""

from __future__ import annotations

import requests

from edgesync.testing.emulation import LoopbackAdapter
from edgesync.testing.emulation import loopback_session as _loopback_session
from edgesync_onedrive.testing._wire import HOSTS

__all__ = ["PREFIXES", "LoopbackAdapter", "loopback_session"]

#: The URL prefixes a loopback session reroutes.
PREFIXES = tuple(f"https://{host}/" for host in HOSTS.values())


def loopback_session(url: str) -> requests.Session:
    """A new session whose Entra ID and Graph traffic goes to the emulator at ``url``.

    For an emulator in another process (``python -m edgesync_onedrive.testing``);
    in-process, :meth:`OneDriveEmulator.session` is the same thing.

    :param url: the emulator's address, ``"http://127.0.0.1:PORT"``.
    :returns: a :class:`requests.Session` with :class:`LoopbackAdapter` mounted
        for ``https://login.microsoftonline.com/``, ``https://graph.microsoft.com/``,
        ``https://upload.onedrive.test/`` and ``https://dl.onedrive.test/``.
    :raises ValueError: ``url`` has no port.
    """
    return _loopback_session(url, PREFIXES)
