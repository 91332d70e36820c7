"""TokenStore: tokens shown once, stored hashed, seen by a running server without a restart."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from edgesync.edge.tokens import TOKEN_PREFIX, TokenInfo, TokenStore
from edgesync.errors import ConfigError


@pytest.fixture
def path(tmp_path):
    return tmp_path / "edge" / "tokens.json"


@pytest.fixture
def tokens(path) -> TokenStore:
    """A store whose file does not exist yet (and whose folder neither)."""
    return TokenStore(path)


def test_a_new_store_has_no_tokens(tokens, path):
    assert tokens.list() == []
    assert tokens.users() == set()
    assert tokens.authenticate(TOKEN_PREFIX + "x" * 43) is None
    assert not path.exists()


def test_add_returns_a_token_and_its_info(tokens):
    token, info = tokens.add("alice", label="work laptop")
    assert token.startswith("esk_") and TOKEN_PREFIX == "esk_"
    assert len(token) == len("esk_") + 43  # 32 random bytes, URL-safe base64
    assert isinstance(info, TokenInfo)
    assert (info.user, info.label) == ("alice", "work laptop")
    assert info.sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert info.id == info.sha256[:10]
    assert tokens.list() == [info]


def test_every_token_is_different(tokens):
    made = {tokens.add("alice")[0] for _ in range(20)}
    assert len(made) == 20
    assert len({info.id for info in tokens.list()}) == 20


def test_authenticate_returns_the_tokens_user(tokens):
    alice, _ = tokens.add("alice")
    bob, _ = tokens.add("bob")
    assert tokens.authenticate(alice) == "alice"
    assert tokens.authenticate(bob) == "bob"
    assert tokens.users() == {"alice", "bob"}


@pytest.mark.parametrize("presented", ["", "esk_", "esk_unknown", "garbage", "Bearer esk_x",
                                       "ESK_abc", " ", "esk_" + "A" * 43])
def test_unknown_and_garbage_tokens_are_none(tokens, presented):
    tokens.add("alice")
    assert tokens.authenticate(presented) is None


def test_a_token_with_a_changed_character_is_refused(tokens):
    token, _ = tokens.add("alice")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert tokens.authenticate(flipped) is None
    assert tokens.authenticate(token + "x") is None
    assert tokens.authenticate(token[:-1]) is None


def test_the_file_never_contains_the_token(tokens, path):
    token, info = tokens.add("alice", label="phone")
    text = path.read_text("utf-8")
    assert token not in text
    assert token[len(TOKEN_PREFIX):] not in text
    data = json.loads(text)
    assert data["format"] == 1
    assert data["tokens"] == [{"id": info.id, "user": "alice", "label": "phone",
                               "created": info.created, "sha256": info.sha256}]


def test_the_file_is_readable_by_its_owner_only(tokens, path):
    tokens.add("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens.add("bob")  # rewritten: still 0600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]  # no temporary left


def test_revoke_removes_exactly_that_token(tokens):
    alice, alice_info = tokens.add("alice")
    bob, bob_info = tokens.add("bob")
    assert tokens.revoke(alice_info.id) == alice_info
    assert tokens.list() == [bob_info]
    assert tokens.authenticate(alice) is None
    assert tokens.authenticate(bob) == "bob"
    assert tokens.users() == {"bob"}


def test_revoke_of_an_unknown_id_is_a_config_error_and_changes_nothing(tokens, path):
    tokens.add("alice")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="token list"):
        tokens.revoke("0123456789")
    assert path.read_bytes() == before


def test_revoke_on_an_empty_store_is_a_config_error(tokens):
    with pytest.raises(ConfigError, match="no token has the id 'nope'"):
        tokens.revoke("nope")


def test_another_instance_sees_additions_and_revocations_without_restart(path):
    cli = TokenStore(path)          # what 'edgesync edge token ...' uses
    server = TokenStore(path)       # what the running edge holds
    first, first_info = cli.add("alice")
    assert server.authenticate(first) == "alice"
    second, _ = cli.add("bob")
    assert server.authenticate(second) == "bob"
    assert server.users() == {"alice", "bob"}
    cli.revoke(first_info.id)
    assert server.authenticate(first) is None
    assert server.authenticate(second) == "bob"
    assert server.users() == {"bob"}


def test_a_deleted_file_revokes_everything_for_a_running_server(path):
    token, _ = TokenStore(path).add("alice")
    server = TokenStore(path)
    assert server.authenticate(token) == "alice"
    path.unlink()
    assert server.authenticate(token) is None


@pytest.mark.parametrize("user", ["", "Alice", "a b", "../etc", "-x", "a" * 65])
def test_a_bad_user_name_is_a_config_error_and_nothing_is_written(tokens, path, user):
    with pytest.raises(ConfigError, match="is not allowed"):
        tokens.add(user)
    assert not path.exists()


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b'{"tokens": [{"id": 1}]}',
                                 b"[]", b'{"tokens": 5}', b"null"])
def test_a_corrupt_file_is_a_config_error(tokens, path, raw):
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    for call in (tokens.list, tokens.users, lambda: tokens.authenticate("esk_x"),
                 lambda: tokens.add("alice"), lambda: tokens.revoke("x")):
        with pytest.raises(ConfigError, match="tokens.json"):
            call()
    assert path.read_bytes() == raw  # nothing overwritten
