"""Creating an edge's folder: ``edge.toml``, the certificate, the folders.

What ``edgesync edge init`` does, and what packagers (``edgesync-pack``) do
once per instance. Runs on the host, never inside a packaged edge: the
certificate needs :mod:`cryptography`, which a packaged edge leaves out.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edgesync.edge.config import CONFIG_NAME, EdgeConfig, parse_listen, valid_user
from edgesync.errors import ConfigError

__all__ = ["CONFIG_TEMPLATE", "init_edge", "parse_option_items", "render_config"]

#: The commented ``edge.toml`` that :func:`init_edge` writes (``str.format`` fields).
CONFIG_TEMPLATE = """\
# edgesync edge configuration (written by 'edgesync edge init'; edit freely).
# Every setting is explained in docs/edge-api.md, "Configuration".

# "personal": one user, as in the EdgeCourier paper; "multi-user": many users
# per process, each with a separate store and cloud folder or account.
mode = {mode}
# Personal mode: the one user's name (tokens are made for this user).
user = {user}

[server]
# HOST:PORT to listen on. Devices on the network need a non-loopback address.
listen = {listen}
# HTTPS with the certificate in tls/ (its fingerprint is pinned by devices).
# false only on a loopback address or with behind_proxy = true.
tls = {tls}
behind_proxy = false
# Requests served at once.
threads = 16
# JSON access log: "-" for standard error, or a file.
access_log = "-"

[provider]
# Where files go: "local" (a folder plays the cloud) or an installed plugin
# (edgesync plugins lists them).
name = {provider}

[provider.options]
# The provider's own options; "{{user}}" is replaced by the user's name.
{options}
[limits]
max_file_size = "1 GiB"
max_delta_size = "256 MiB"

[upload]
# Tries within one request before the upload continues in the background.
attempts = 4
# Longest retry-after (seconds) waited for within a request.
max_wait = 30
"""



def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def parse_option_items(items: Iterable[str]) -> dict[str, Any]:
    """``--option`` values to a provider options table: ``"root=/x"``, ``"timeout=30"``.

    Values that read as integers or ``true``/``false`` become those; the
    provider's options type checks the rest.

    :raises ConfigError: an item without ``KEY=``.
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r} is not KEY=VALUE")
        parsed: Any = value
        if value.lower() in ("true", "false"):
            parsed = value.lower() == "true"
        elif value.lstrip("-").isdigit():
            parsed = int(value)
        options[key.strip()] = parsed
    return options


def render_config(*, mode: str = "personal", user: str = "me", listen: str = "0.0.0.0:8443",
                  plain_http: bool = False, behind_proxy: bool = False,
                  provider: str = "local", options: Mapping[str, Any] | None = None) -> str:
    """The text of a commented ``edge.toml``, checked as ``edgesync serve`` would check it.

    :param options: the provider's options table (strings, numbers, booleans).
    :raises ConfigError: a value ``serve`` would refuse.
    """
    import tomli_w

    valid_user(user)
    parse_listen(listen)
    text = CONFIG_TEMPLATE.format(
        mode=_toml_str(mode), user=_toml_str(user), listen=_toml_str(listen),
        tls="false" if plain_http else "true", provider=_toml_str(provider),
        options=tomli_w.dumps(dict(options or {})))
    if behind_proxy:
        text = text.replace("behind_proxy = false", "behind_proxy = true", 1)
    EdgeConfig.from_mapping(tomllib.loads(text), Path("/"))
    return text


def init_edge(folder: Path, *, names: Iterable[str] = (), **settings: Any) -> str | None:
    """Create an edge in ``folder``: ``edge.toml`` and, with TLS, a certificate.

    :param folder: the edge's folder; created (mode 0700) if missing.
    :param names: host names or addresses devices use, recorded in the certificate.
    :param settings: the keywords of :func:`render_config`.
    :returns: the certificate's SHA-256 fingerprint, or None with ``plain_http``.
    :raises ConfigError: ``folder`` already holds an edge, or a bad setting;
        nothing is written then.
    """
    from edgesync.tls import create_certificate

    if (folder / CONFIG_NAME).exists():
        raise ConfigError(f"{folder} already holds an edge ({CONFIG_NAME} exists); "
                          "nothing was changed")
    text = render_config(**settings)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fingerprint = None
    if not settings.get("plain_http"):
        fingerprint = create_certificate(folder / "tls" / "cert.pem",
                                         folder / "tls" / "key.pem", names=tuple(names))
    (folder / CONFIG_NAME).write_text(text, "utf-8")
    return fingerprint
