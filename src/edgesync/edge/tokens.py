"""Bearer tokens: created by ``edgesync edge token add``, stored hashed, shown once.

A token is ``esk_`` and 43 URL-safe characters (32 random bytes). The edge
keeps only its SHA-256 (a slow password hash buys nothing for 256 random
bits), in ``tokens.json``, readable by its owner only. The server re-reads the
file when it changes, so tokens added or revoked take effect without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from edgesync.edge.config import valid_user
from edgesync.errors import ConfigError

__all__ = ["TOKEN_PREFIX", "TokenInfo", "TokenStore"]

#: Every token starts with this, so that a leaked one is easy to recognise.
TOKEN_PREFIX = "esk_"


@attrs.frozen(kw_only=True)
class TokenInfo:
    """One stored token, without the secret.

    :ivar id: a short public identifier, for listing and revoking.
    :ivar user: whose files the token opens.
    :ivar label: a note, such as the device's name.
    :ivar created: when it was made (Unix time).
    :ivar sha256: the SHA-256 of the token (hex).
    """

    id: str
    user: str
    label: str
    created: float
    sha256: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The edge's tokens in one JSON file.

    :param path: the file (created on the first :meth:`add`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_digest: dict[str, TokenInfo] = {}

    def _read(self) -> list[TokenInfo]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
            # Valid JSON of the wrong shape is as damaged as a torn file.
            return [TokenInfo(**item) for item in data.get("tokens", [])]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise ConfigError(f"{self.path} cannot be read: {exc}") from exc

    def _write(self, tokens: list[TokenInfo]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        data: dict[str, Any] = {"format": 1, "tokens": [attrs.asdict(t) for t in tokens]}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def add(self, user: str, *, label: str = "") -> tuple[str, TokenInfo]:
        """Create a token for ``user``.

        :returns: the token (shown to the person once, never stored) and its info.
        :raises ConfigError: a bad user name.
        """
        valid_user(user)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = _digest(token)
        info = TokenInfo(id=digest[:10], user=user, label=label, created=time.time(),
                         sha256=digest)
        with self._lock:
            self._write([*self._read(), info])
        return token, info

    def list(self) -> list[TokenInfo]:
        """Every token's info (never the tokens themselves)."""
        return self._read()

    def revoke(self, token_id: str) -> TokenInfo:
        """Delete the token with this id (see :meth:`list`).

        :raises ConfigError: no token has that id.
        """
        with self._lock:
            tokens = self._read()
            keep = [t for t in tokens if t.id != token_id]
            if len(keep) == len(tokens):
                raise ConfigError(f"no token has the id {token_id!r}; "
                                  "'edgesync edge token list' shows them")
            self._write(keep)
        return next(t for t in tokens if t.id == token_id)

    def authenticate(self, token: str) -> str | None:
        """The user a presented token belongs to, or ``None``."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        self._refresh()
        info = self._by_digest.get(_digest(token))
        if info is None or not hmac.compare_digest(info.sha256, _digest(token)):
            return None
        return info.user

    def users(self) -> set[str]:
        """Every user that has a token."""
        self._refresh()
        return {info.user for info in self._by_digest.values()}

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            with self._lock:
                self._by_digest = {info.sha256: info for info in self._read()}
                self._stamp = stamp
