"""The client side of the emulator: a requests adapter that reaches it over loopback.

MSAL and a Graph client use ``https://login.microsoftonline.com/...``,
``https://graph.microsoft.com/...`` and the upload and download URLs Graph
hands out. Mounting :class:`LoopbackAdapter` on a :class:`requests.Session`
for those prefixes sends each request to ``http://127.0.0.1:PORT`` instead,
with the original ``Host`` header so the emulator routes by host.

It sends a *copy* of the request and restores ``response.request`` and
``response.url`` afterwards. Rewriting the request in place would break
redirects: the rewritten ``Host`` would leak into the redirected request, and
requests' "drop Authorization on a cross-host redirect" check would compare
loopback URLs and forward the bearer token to the download host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from edgesync_onedrive.testing._wire import HOSTS

#: The URL prefixes a loopback session reroutes.
PREFIXES = tuple(f"https://{host}/" for host in HOSTS.values())


class LoopbackAdapter(HTTPAdapter):
    """Send requests for any host to a local server, keeping the ``Host`` header.

    :param port: the local server's port.
    :param host: the local server's address.
    :param kwargs: passed to :class:`requests.adapters.HTTPAdapter`.

    Example::

        session = requests.Session()
        session.mount("https://graph.microsoft.com/", LoopbackAdapter(emulator.port))
    """

    def __init__(self, port: int, host: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port
        self.host = host

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        """Send a copy of ``request`` to the local server; see :meth:`HTTPAdapter.send`.

        Proxies are ignored: loopback traffic never goes through one.
        """
        original_url = request.url or ""
        parts = urlsplit(original_url)
        local = request.copy()
        local.url = f"http://{self.host}:{self.port}{parts.path or '/'}"
        if parts.query:
            local.url += f"?{parts.query}"
        local.headers["Host"] = parts.netloc
        response = super().send(local, stream=stream, timeout=timeout, verify=verify,
                                cert=cert, proxies=None)
        response.request = request
        response.url = original_url
        return response


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
    parts = urlsplit(url)
    if parts.port is None or not parts.hostname:
        raise ValueError(f"expected the emulator's address like http://127.0.0.1:PORT, got {url!r}")
    session = requests.Session()
    for prefix in PREFIXES:
        session.mount(prefix, LoopbackAdapter(parts.port, parts.hostname))
    return session
