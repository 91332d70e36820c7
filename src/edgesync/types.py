"""Value types shared by every layer: what a provider reports and receives.

All are frozen :mod:`attrs` classes with keyword-only fields, so fields can be
added without breaking plugins. Validators check invariants only (sizes are
not negative, names are well formed); parsing external input is the job of
the module that reads it (a plugin's ``_convert.py``, the edge's API).

- :class:`RemoteEntry` -- one file as the cloud sees it (size, revision, hashes).
- :class:`UploadInfo` -- what the uploader already knows about the bytes it sends.
- :class:`ProviderFacts` -- behaviour a provider declares.
- :class:`Capabilities` -- facts plus the optional operations a provider implements.
- :class:`ProviderSpec`, :class:`HashSpec`, :class:`PackTarget` -- the records
  plugins register (see :mod:`edgesync.hookspecs`).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NewType, Protocol

import attrs

if TYPE_CHECKING:
    from edgesync.providers.base import Provider

__all__ = [
    "Capabilities",
    "HashSpec",
    "Hasher",
    "PackTarget",
    "ProviderFacts",
    "ProviderSpec",
    "RemoteEntry",
    "Revision",
    "UploadInfo",
]

#: An opaque revision string chosen by the service (Dropbox ``rev``, OneDrive
#: eTag, the ``local`` provider's stat signature). Only equality is meaningful.
Revision = NewType("Revision", str)

_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")


def _non_negative(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


def _registered_name(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must match [a-z][a-z0-9-]*, "
            f"got {value!r}")


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(kw_only=True, eq=True, hash=False)
class RemoteEntry:
    """One file in the cloud, as the provider reported it.

    :ivar path: the normalised remote path (see :mod:`edgesync.paths`).
    :ivar size: length in bytes.
    :ivar revision: the service's opaque revision of exactly these bytes; pass
        it as ``if_match`` to change this version and no other.
    :ivar hashes: content hashes the service reports natively, by hash type
        (``{"sha256": ...}``, ``{"dropbox": ...}``); lower-case hex. Read-only.
    :ivar modified: when the service last saw the file change, if it says.
    """

    path: str
    size: int = attrs.field(validator=_non_negative)
    revision: Revision
    hashes: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    modified: datetime | None = None


@attrs.frozen(kw_only=True, eq=True, hash=False)
class UploadInfo:
    """What the uploader knows about the bytes it hands to :meth:`Provider.put`.

    :ivar size: exact length of the content; a provider may rely on it.
    :ivar hashes: hashes of the content computed locally, by hash type. The edge
        computes every type the provider declares in
        :attr:`ProviderFacts.hash_types` (plus ``sha256``), so a provider can
        send them to the service and check the result without reading twice.
    :ivar modified: the device's modification time, if the provider keeps one.
    """

    size: int = attrs.field(validator=_non_negative)
    hashes: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    modified: datetime | None = None


@attrs.frozen(kw_only=True)
class ProviderFacts:
    """Behaviour a provider declares about its service (rclone's feature flags).

    :ivar hash_types: the hash types :attr:`RemoteEntry.hashes` always holds
        after a ``put`` or ``stat``; each is registered by a plugin through
        ``edgesync_hash_types``.
    :ivar case_insensitive: ``a.txt`` and ``A.txt`` name the same file.
    :ivar invalid_path_chars: characters the service refuses in names, beyond
        what :func:`edgesync.paths.normalize_path` already refuses.
    :ivar max_path_length: longest path the service accepts, in characters.
    :ivar max_single_put_size: largest content one :meth:`Provider.put` may send;
        larger files need :meth:`Provider.open_upload_session`. ``None``: no limit.
    :ivar supports_conditional_put: ``put(..., if_match=...)`` and
        ``create_only`` are enforced by the service atomically. The edge refuses
        to upload through a provider without it unless configured to.
    """

    hash_types: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    case_insensitive: bool = False
    invalid_path_chars: str = ""
    max_path_length: int | None = None
    max_single_put_size: int | None = None
    supports_conditional_put: bool = True


@attrs.frozen(kw_only=True)
class Capabilities:
    """What one provider object can do: its facts plus its optional operations.

    Operation flags are derived from the methods a provider class overrides, so
    they cannot drift from the code (see :attr:`Provider.capabilities`).

    :ivar facts: the declared :class:`ProviderFacts`.
    :ivar supports_resumable_upload: :meth:`Provider.open_upload_session` works.
    """

    facts: ProviderFacts
    supports_resumable_upload: bool


class Hasher(Protocol):
    """A hashlib-like incremental hash: ``update(data)`` then ``hexdigest()``."""

    def update(self, data: bytes, /) -> None:
        """Feed more content."""

    def hexdigest(self) -> str:
        """The lower-case hex digest of everything fed so far."""


@attrs.frozen(kw_only=True)
class ProviderSpec:
    """A storage provider a plugin offers (yielded by ``edgesync_providers``).

    :ivar name: the provider's name in configuration, ``[a-z][a-z0-9-]*``.
    :ivar factory: builds a provider from an instance of ``options_type``; keep
        SDK imports inside it so that listing plugins stays cheap.
    :ivar options_type: an attrs class whose fields are the provider's
        configuration options; each field's ``metadata["help"]`` documents it.
    :ivar description: one line for ``edgesync plugins``.
    :ivar not_on_edge: distributions that the plugin's dependencies declare but
        that the edge never imports, each with the reason (``{"cryptography":
        "msal needs it only for certificate credentials"}``). ``edgesync-pack``
        leaves them out of packaged edges, which must stay pure Python; its
        self-containment test proves the edge runs without them.
    """

    name: str = attrs.field(validator=_registered_name)
    factory: Callable[[Any], Provider]
    options_type: type
    description: str = ""
    not_on_edge: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen(kw_only=True)
class HashSpec:
    """A content-hash type a plugin offers (yielded by ``edgesync_hash_types``).

    :ivar name: the key in :attr:`RemoteEntry.hashes`, ``[a-z][a-z0-9-]*``.
    :ivar factory: returns a new, empty :class:`Hasher`.
    :ivar description: one line for ``edgesync plugins``.
    """

    name: str = attrs.field(validator=_registered_name)
    factory: Callable[[], Hasher]
    description: str = ""


@attrs.frozen(kw_only=True)
class PackTarget:
    """A packaging target for ``edgesync-pack`` (yielded by ``edgesync_pack_targets``).

    :ivar name: the subcommand, ``edgesync-pack NAME``; ``[a-z][a-z0-9-]*``.
    :ivar command: returns the target's :class:`click.Command`; called only when
        the target is used or its help is shown, so import heavy modules inside.
    :ivar summary: one line for ``edgesync-pack --help``.
    """

    name: str = attrs.field(validator=_registered_name)
    command: Callable[[], Any]
    summary: str = ""
