"""A Dropbox API v2 emulator on loopback, for offline tests with the real SDK.

:class:`DropboxEmulator` is one Dropbox account served by the standard
library's threaded HTTP server on ``127.0.0.1`` (a free port), routing by the
``Host`` header. :meth:`DropboxEmulator.session` returns a
:class:`requests.Session` whose traffic for the Dropbox hosts goes there
(:class:`LoopbackAdapter`); hand it to ``dropbox.Dropbox(session=...)`` and
the SDK runs unchanged, token refresh included. No TLS, no environment
variables, nothing process-global.

Example::

    >>> import dropbox
    >>> from edgesync_dropbox.testing import DropboxEmulator, server_error
    >>> with DropboxEmulator() as emulator:
    ...     dbx = dropbox.Dropbox(oauth2_refresh_token=emulator.link_account(),
    ...                           app_key=emulator.app_key, session=emulator.session(),
    ...                           max_retries_on_error=0)
    ...     md = dbx.files_upload(b"hello", "/Docs/Hello.txt")
    ...     emulator.file("/docs/hello.txt")
    ...     rule = emulator.inject("files/get_metadata", server_error(503))
    ...     try:
    ...         dbx.files_get_metadata("/Docs/Hello.txt")
    ...     except dropbox.exceptions.InternalServerError as exc:
    ...         exc.status_code
    ...     [(r.route, r.status) for r in emulator.journal]
    b'hello'
    503
    [('oauth2/token', 200), ('files/upload', 200), ('files/get_metadata', 503)]

What it serves (hosts as the SDK names them):

============================================  ========  ===============================
route                                         host      notes
============================================  ========  ===============================
``POST /oauth2/token``                        api       ``refresh_token`` and PKCE
                                                        ``authorization_code`` grants
``GET /oauth2/authorize``                     www       the no-redirect page: the code
                                                        as text (PKCE only)
``users/get_current_account``                 api       a minimal FullAccount
``users/get_space_usage``                     api       used bytes and the quota
``files/upload``                              content   WriteMode add/overwrite/update,
                                                        autorename, strict_conflict
``files/upload_session/start``                content   sequential or concurrent
``files/upload_session/append_v2``            content   ``incorrect_offset``, ``closed``
``files/upload_session/finish``               content   CommitInfo, ``lookup_failed/*``
``files/upload_session/finish_batch_v2``      api       synchronous, per-entry results
``files/get_metadata``                        api       file, folder, ``deleted``
``files/download``                            content   ``Range`` (206),
                                                        ``Dropbox-API-Result``
``files/delete_v2``                           api       ``parent_rev``
============================================  ========  ===============================

Wire rules it keeps, because the SDK or real clients depend on them: JSON
answers carry exactly ``Content-Type: application/json`` (the SDK asserts
it); every answer has an ``X-Dropbox-Request-Id``; ``Dropbox-API-Result`` is
ASCII-only JSON with 0x7F escaped too; ``Dropbox-API-Arg`` must be ASCII;
union arguments may be ``"add"`` or ``{".tag": "add"}`` and omitted fields
take Dropbox's defaults (``mode=add``, ``autorename``, ``mute`` and
``strict_conflict`` false); every supplied ``content_hash`` is checked against
the bytes of that one request (the emulator hashes them itself, see
:func:`content_hash`); a malformed argument, a wrong Content-Type, a wrong host
or an unknown route is a ``400 text/plain`` explanation.

The store: paths are case-insensitive (``path_lower``); parent folders are
created by the writes below them and stay until deleted; a file in an ancestor
position is ``conflict/file_ancestor``, a folder at the path ``conflict/folder``;
``rev`` is 12 hex digits increasing with every write; ``id`` survives
overwrites; an upload of the bytes already there is no new revision (not even
for ``overwrite``) and no conflict unless ``strict_conflict``. A write that
fails leaves everything as it was, a failed ``finish`` included (its session
stays usable).

Choices where Dropbox's behaviour is not documented (a client should not rely on
more than the SDK's error unions anyway):

* ``delete_v2`` with a ``parent_rev`` other than the file's rev answers
  ``409 path_write/conflict/file`` (``DeleteError.path_write``), the same
  "something changed in the way" conflict an upload with a stale rev gets; a
  ``parent_rev`` on a folder is ``path_lookup/not_file``.
* ``append_v2`` checks the offset before ``closed``, so the retry of a lost
  closing append still learns ``correct_offset``.
* Autorenamed files are named as the SDK's docstrings say: ``a (2).txt`` for
  ``add``, ``a (conflicted copy).txt`` for ``update``.
* Revoking a refresh token revokes the access tokens issued from it.

Control surface (Python, for tests and demos): accounts and tokens
(:meth:`~DropboxEmulator.link_account`, :meth:`~DropboxEmulator.mint_auth_code`,
:meth:`~DropboxEmulator.revoke_refresh_token`,
:meth:`~DropboxEmulator.expire_access_tokens`), another device's view of the
files (:meth:`~DropboxEmulator.put_file`, :meth:`~DropboxEmulator.file`,
:meth:`~DropboxEmulator.metadata`, :meth:`~DropboxEmulator.delete_file`,
:meth:`~DropboxEmulator.files`), the request :attr:`~DropboxEmulator.journal`,
and fault rules: :meth:`DropboxEmulator.inject` takes a route (one of
:data:`ROUTES`, or ``"*"``) and an action built by one of

* :func:`respond` -- any status, body and headers instead of the real answer;
* :func:`reset` (alias :func:`reset_connection`) -- drop the connection, nothing done;
* :func:`process_then_reset` -- do it, then drop the connection (the lost
  response); :func:`process_then` pairs the effect with any other answer;
* :func:`delay` -- sleep in the server, then answer;
* :func:`corrupt` -- flip a byte of the upload before it is verified, or of
  the download body;
* :func:`truncate_body` -- send only part of a download;
* :func:`rate_limited`, :func:`server_error`, :func:`expired_token`,
  :func:`insufficient_space`, :func:`too_many_write_operations`,
  :func:`charset_content_type` -- the failures real clients meet.

Run ``python -m edgesync_dropbox.testing`` to serve one from a shell (it prints
the URL and a refresh token); :func:`loopback_session` reaches it from another
process.
"""

from __future__ import annotations

from edgesync_dropbox.testing._adapter import LoopbackAdapter, loopback_session
from edgesync_dropbox.testing._faults import (
    Action,
    Rule,
    charset_content_type,
    corrupt,
    delay,
    expired_token,
    insufficient_space,
    process_then,
    process_then_reset,
    rate_limited,
    reset,
    reset_connection,
    respond,
    server_error,
    too_many_write_operations,
    truncate_body,
)
from edgesync_dropbox.testing._server import ROUTES, DropboxEmulator, JournalRecord
from edgesync_dropbox.testing._wire import content_hash

__all__ = [
    "ROUTES",
    "Action",
    "DropboxEmulator",
    "JournalRecord",
    "LoopbackAdapter",
    "Rule",
    "charset_content_type",
    "content_hash",
    "corrupt",
    "delay",
    "expired_token",
    "insufficient_space",
    "loopback_session",
    "process_then",
    "process_then_reset",
    "rate_limited",
    "reset",
    "reset_connection",
    "respond",
    "server_error",
    "too_many_write_operations",
    "truncate_body",
]
