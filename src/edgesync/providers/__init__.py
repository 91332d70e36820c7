"""Cloud storage providers: the contract and the built-in ``local`` provider.

- :class:`Provider`, :class:`UploadSession` -- the contract every provider
  plugin implements (see :mod:`edgesync.providers.base`).
- :class:`LocalProvider` -- a folder plays the cloud; the embedded default.

Providers are found through plugins: see :mod:`edgesync.hookspecs` and
:class:`edgesync.plugins.PluginHost`.
"""

from edgesync.providers.base import Provider, UploadSession
from edgesync.providers.local import LocalOptions, LocalProvider

__all__ = ["LocalOptions", "LocalProvider", "Provider", "UploadSession"]
