"""The edge: each user's relay between their devices and their cloud.

It keeps the last synced version of each file, applies the deltas devices
send, verifies the result, stores it durably and uploads the whole file through
a provider with a conditional write. Run it with ``edgesync serve``; embed it
with :class:`EdgeServer`; its HTTP API is specified in ``docs/edge-api.md``.

- :class:`EdgeConfig` -- ``edge.toml`` plus command-line overrides.
- :class:`EdgeServer` -- the service behind a threaded HTTPS server (cheroot).
- :class:`EdgeService` -- the same operations without HTTP.
- :class:`EdgeApp` -- the WSGI application, for another WSGI server.
- :class:`TokenStore` -- the hashed bearer tokens.
- :class:`VersionStore`, :class:`FileRecord`, :class:`UploadState` -- what is kept.
- :class:`RetryPolicy` -- how hard uploads are retried.
"""

from edgesync.edge.api import EdgeApp
from edgesync.edge.config import EdgeConfig
from edgesync.edge.server import EdgeServer
from edgesync.edge.service import EdgeService, SaveResult
from edgesync.edge.store import FileRecord, UploadState, VersionStore
from edgesync.edge.tokens import TokenStore
from edgesync.edge.uploader import RetryPolicy

__all__ = ["EdgeApp", "EdgeConfig", "EdgeServer", "EdgeService", "FileRecord", "RetryPolicy",
           "SaveResult", "TokenStore", "UploadState", "VersionStore"]
