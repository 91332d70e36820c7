"""edgesync-onedrive: the OneDrive provider of edgesync (Microsoft Graph, MSAL sign-in).

- :class:`OneDriveProvider`, :class:`OneDriveOptions` -- the provider and its
  ``[provider.options]``.
- :class:`~edgesync_onedrive.quickxorhash.QuickXorHasher` -- OneDrive's content hash.
- :mod:`edgesync_onedrive.auth` -- ``edgesync auth onedrive`` (device code).
- :mod:`edgesync_onedrive.testing` -- Graph and sign-in emulators on loopback.

The plugin registers itself by the entry point ``onedrive`` in the group
``edgesync``; Graph and MSAL errors never leave it (see ``_errors.py``).
"""

from edgesync_onedrive.provider import OneDriveOptions, OneDriveProvider
from edgesync_onedrive.quickxorhash import QuickXorHasher

__all__ = ["OneDriveOptions", "OneDriveProvider", "QuickXorHasher"]
