"""edgesync-dropbox: the Dropbox provider of edgesync.

- :class:`DropboxProvider`, :class:`DropboxOptions` -- the provider and its
  ``[provider.options]``.
- :mod:`edgesync_dropbox.auth` -- ``edgesync auth dropbox`` (OAuth 2, PKCE).
- :mod:`edgesync_dropbox.testing` -- a Dropbox API emulator on loopback.

The plugin registers itself by the entry point ``dropbox`` in the group
``edgesync``; SDK types and exceptions never leave it (see ``_errors.py``).
"""

from edgesync_dropbox.provider import DropboxOptions, DropboxProvider

__all__ = ["DropboxOptions", "DropboxProvider"]
