"""A OneDrive (Microsoft Graph) and Entra ID sign-in emulator on loopback, for offline
tests with real MSAL and a plain ``requests`` Graph client.

:class:`OneDriveEmulator` is one personal OneDrive and its Microsoft account,
served by the standard library's threaded HTTP server on ``127.0.0.1`` (a free
port) and routed by the ``Host`` header. :meth:`OneDriveEmulator.session`
returns a :class:`requests.Session` whose traffic for
``login.microsoftonline.com``, ``graph.microsoft.com`` and the upload and
download hosts Graph hands out goes there (:class:`LoopbackAdapter`). Give it
to ``msal.PublicClientApplication(http_client=...)`` with the real authority
string and to the Graph client: both run unchanged. No TLS, no environment
variables, nothing process-global.

Example::

    >>> import msal
    >>> from edgesync_onedrive.testing import OneDriveEmulator, throttled
    >>> with OneDriveEmulator() as emulator:
    ...     app = msal.PublicClientApplication(
    ...         emulator.client_id, authority="https://login.microsoftonline.com/consumers",
    ...         http_client=emulator.session())
    ...     flow = app.initiate_device_flow(scopes=["Files.ReadWrite"])
    ...     token = app.acquire_token_by_device_flow(flow)["access_token"]  # auto-approved
    ...     graph = emulator.session()
    ...     graph.headers["Authorization"] = f"Bearer {token}"
    ...     url = "https://graph.microsoft.com/v1.0/me/drive/root:/Docs/Hello.txt:/content"
    ...     graph.put(url, data=b"hello").status_code
    ...     emulator.file("/docs/hello.txt")
    ...     graph.get(url).content  # a 302 to the download host, followed without the token
    ...     rule = emulator.inject("getContent", throttled(retry_after=0))
    ...     graph.get(url).status_code
    ...     [(r.route, r.status) for r in emulator.journal][-4:]
    201
    b'hello'
    b'hello'
    429
    [('content', 201), ('getContent', 302), ('download', 200), ('getContent', 429)]

What it serves (route names are what :meth:`OneDriveEmulator.inject` and the
journal use):

=======================  =====  =========================================================
route                    host   request and behaviour
=======================  =====  =========================================================
``openidConfiguration``  login  ``GET /{tenant}/v2.0/.well-known/openid-configuration``
                                (also v1): endpoints under
                                ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/``
``instanceDiscovery``    login  ``GET /common/discovery/instance?api-version=1.1&...``
                                (MSAL asks on silent paths)
``devicecode``           login  ``POST /{tenant}/oauth2/v2.0/devicecode``: ``device_code``,
                                ``user_code``, ``verification_uri``, ``expires_in``,
                                ``interval`` (1), ``message``
``token``                login  ``POST /{tenant}/oauth2/v2.0/token``: the ``device_code``
                                grant (``authorization_pending`` until approved,
                                ``authorization_declined``, ``expired_token``) and the
                                ``refresh_token`` grant (rotates; ``invalid_grant``
                                AADSTS700082 for a revoked, used or unknown token)
``drive``                graph  ``GET /v1.0/me/drive``: id, driveType, owner, quota
``item``                 graph  ``GET .../root:/{path}``, ``.../items/{id}``: a driveItem
                                or ``404 itemNotFound``
``children``             graph  ``GET .../root:/{path}:/children``,
                                ``.../items/{id}/children`` (one page)
``content``              graph  ``PUT .../root:/{path}:/content``,
                                ``.../items/{parent}:/{name}:/content``,
                                ``.../items/{id}/content``: the simple upload
``getContent``           graph  ``GET .../content``: ``302`` to the download host
``createUploadSession``  graph  ``POST .../root:/{path}:/createUploadSession`` (and the
                                items variants): an ``uploadUrl`` on the upload host
``delete``               graph  ``DELETE .../root:/{path}``, ``.../items/{id}``: ``204``
``fragment``             upload ``PUT /up/<opaque>``: ``Content-Range`` fragments, ``202``
                                then the committed driveItem
``uploadStatus``         upload ``GET /up/<opaque>``: ``nextExpectedRanges``
``cancelUpload``         upload ``DELETE /up/<opaque>``: ``204``
``commit``               upload ``POST /up/<opaque>``: commits a ``deferCommit`` session
``download``             dl     ``GET /dl/<opaque>``: the bytes, ``Range`` gives ``206``
=======================  =====  =========================================================

Hosts: login is ``login.microsoftonline.com``, graph ``graph.microsoft.com``
(paths under ``/v1.0``, with ``/me/drive`` or ``/drives/{drive-id}``), upload
``upload.onedrive.test``, dl ``dl.onedrive.test``. A request no route serves
is ``400 invalidRequest`` on graph, ``404`` elsewhere, with route ``"unknown"``.

Graph rules it keeps:

* Every Graph route needs ``Authorization: Bearer <token>``; a missing,
  unknown or expired token is ``401 InvalidAuthenticationToken`` with Graph's
  ``WWW-Authenticate`` header (plus ``error="expired_token"`` when expired).
  The upload and download URLs are pre-authenticated: in ``strict`` mode a
  request carrying ``Authorization`` there is refused with ``401``.
* Every answer carries ``request-id`` and echoes ``client-request-id``; errors
  are ``{"error": {"code", "message", "innerError": {"code"?, "date",
  "request-id", "client-request-id"}}}``.
* driveItems carry ``id`` (stable across overwrites), ``name``, ``size``,
  ``eTag`` (changes on every change), ``cTag`` (files only; changes on content
  changes), ``createdDateTime``, ``lastModifiedDateTime``, ``webUrl``,
  ``fileSystemInfo``, ``parentReference`` (``driveId``, ``driveType``, ``id``,
  ``name``, ``path: "/drive/root:/dir"``), and ``file`` (``mimeType``,
  ``hashes.quickXorHash`` computed by the emulator, see :func:`quick_xor_hash`)
  with ``@microsoft.graph.downloadUrl``, or ``folder.childCount``.
* Paths are case-insensitive (an existing item keeps its case); folders are
  created by the writes below them. Names may not contain ``" * : < > ? \\ |``.
* Simple upload: ``?@microsoft.graph.conflictBehavior=fail|replace|rename``
  (default ``replace``; ``fail`` gives ``409 nameAlreadyExists``, ``rename``
  writes ``name 1.ext``); ``If-Match: <eTag>`` (mismatch, or no item: ``412
  resourceModified``) and ``If-None-Match: *``; more than
  :attr:`~OneDriveEmulator.simple_upload_limit` bytes (250 MiB) is ``413``;
  ``201`` new, ``200`` replaced.
* createUploadSession: body ``{"item": {"@microsoft.graph.conflictBehavior"
  (default **fail**), "fileSize"}, "deferCommit"}``; a ``fileSize`` beyond the
  remaining quota is ``507 quotaLimitReached``; ``If-Match``/``If-None-Match``
  as above. **Creating a session that will replace an existing item changes
  that item's eTag (not its cTag)**, as OneDrive does (abraunegg/onedrive found it): an
  ``If-Match`` with the eTag read before the session fails afterwards, on a
  fragment as on any other request (``412``). Turn it off with
  :attr:`~OneDriveEmulator.etag_bump_on_session`.
* Fragments: no ``Authorization``; ``Content-Length`` (``411`` without, in
  ``strict`` mode); ``Content-Range: bytes a-b/total`` whose span equals the body
  length (else ``400``); ``total`` the same on every fragment (else ``400``,
  inner ``fragmentLengthMismatch``); a fragment of 60 MiB or more is ``413``;
  a start before the next expected byte is ``416 invalidRange`` (inner
  ``fragmentOverlap``), after it ``416`` (inner ``fragmentOutOfOrder``); in
  ``strict`` mode an intermediate fragment must be a multiple of 320 KiB or
  end on a 320 KiB boundary of the file (else ``400``). Intermediate fragments
  answer ``202 {"expirationDateTime", "nextExpectedRanges": ["N-"]}``; the
  last one commits (``201``/``200`` with the driveItem) unless ``deferCommit``
  (then an empty ``POST`` on the upload URL commits). A commit that conflicts
  (``fail`` and an item appeared meanwhile: ``409 nameAlreadyExists``; a
  session created with ``If-Match`` whose item changed since: ``412``) keeps
  the session.
* ``GET .../content`` is a ``302`` to a download URL; following it with
  requests drops the ``Authorization`` header (the loopback adapter keeps the
  original URLs so requests' cross-host check works). The download host
  serves ``Range`` (``206``, ``416``).

Choices where Graph's behaviour is not documented (a client should not rely
on more than the status and top-level code):

* The 413s use code ``invalidRequest`` (inner ``maxFileSizeExceeded`` or
  ``maxFragmentLengthExceeded``); a misaligned fragment is ``400
  invalidRequest`` (inner ``invalidFragmentLength``) at once, where Graph
  documents only "errors committing some files".
* createUploadSession with ``fail`` on an existing item is ``409`` at once
  (and again at commit if one appeared meanwhile); ``If-Match`` does not imply
  ``replace``. A session created on an existing item by id
  (``.../items/{id}/createUploadSession``) always replaces.
* A session created with ``If-Match``/``If-None-Match`` re-checks at commit
  that its item has not changed since (against the eTag after the bump).
* A redeemed refresh token stops working (Entra ID keeps it valid): see
  :attr:`~OneDriveEmulator.rotate_refresh_tokens`.
* eTags compare leniently (``W/`` and quotes ignored); only ``quickXorHash`` is
  reported (no ``sha1Hash``, which only personal drives have).

Control surface (Python, for tests and demos): sign-in
(:meth:`~OneDriveEmulator.approve_device_code`,
:meth:`~OneDriveEmulator.decline_device_code`,
:meth:`~OneDriveEmulator.revoke_refresh_tokens`,
:meth:`~OneDriveEmulator.expire_access_tokens`,
:meth:`~OneDriveEmulator.issue_access_token`), another device's view of the
drive (:meth:`~OneDriveEmulator.put_file`, :meth:`~OneDriveEmulator.file`,
:meth:`~OneDriveEmulator.item`, :meth:`~OneDriveEmulator.delete_file`,
:meth:`~OneDriveEmulator.files`, :meth:`~OneDriveEmulator.set_quota`,
:meth:`~OneDriveEmulator.expire_upload_sessions`), the request
:attr:`~OneDriveEmulator.journal`, and fault rules:
:meth:`OneDriveEmulator.inject` takes a route (one of :data:`ROUTES`, or
``"*"``) and an action built by one of

* :func:`respond` -- any status, body and headers instead of the real answer;
* :func:`reset` (alias :func:`reset_connection`) -- drop the connection, nothing done;
* :func:`process_then_reset` -- do it (store the fragment, write the file),
  then drop the connection; :func:`process_then` pairs the effect with any
  other answer;
* :func:`delay` -- sleep in the server, then answer;
* :func:`partial_accept` -- store only part of a fragment (``202`` with a
  ``nextExpectedRanges`` that is not 320 KiB aligned);
* :func:`truncate_body` -- send only part of a body (a download);
* :func:`throttled`, :func:`server_error`, :func:`quota_full`,
  :func:`expired_token`, :func:`rps_error`, :func:`session_gone`,
  :func:`etag_changed` -- the Graph failures real clients meet;
  :func:`invalid_grant`, :func:`slow_down`, :func:`device_expired` -- the
  token endpoint's.

Run ``python -m edgesync_onedrive.testing`` to serve one from a shell (it prints
the URL and the client id; device codes are approved as they are issued);
:func:`loopback_session` reaches it from another process.
"""

from __future__ import annotations

from edgesync_onedrive.testing._adapter import LoopbackAdapter, loopback_session
from edgesync_onedrive.testing._faults import (
    Action,
    Rule,
    delay,
    device_expired,
    etag_changed,
    expired_token,
    invalid_grant,
    partial_accept,
    process_then,
    process_then_reset,
    quota_full,
    reset,
    reset_connection,
    respond,
    rps_error,
    server_error,
    session_gone,
    slow_down,
    throttled,
    truncate_body,
)
from edgesync_onedrive.testing._server import (
    FRAGMENT_ALIGN,
    MSA_TENANT,
    ROUTES,
    JournalRecord,
    OneDriveEmulator,
)
from edgesync_onedrive.testing._wire import HOSTS, quick_xor_hash

__all__ = [
    "FRAGMENT_ALIGN",
    "HOSTS",
    "MSA_TENANT",
    "ROUTES",
    "Action",
    "JournalRecord",
    "LoopbackAdapter",
    "OneDriveEmulator",
    "Rule",
    "delay",
    "device_expired",
    "etag_changed",
    "expired_token",
    "invalid_grant",
    "loopback_session",
    "partial_accept",
    "process_then",
    "process_then_reset",
    "quick_xor_hash",
    "quota_full",
    "reset",
    "reset_connection",
    "respond",
    "rps_error",
    "server_error",
    "session_gone",
    "slow_down",
    "throttled",
    "truncate_body",
]
