"""``edge.toml`` parsing: every key, every bad value named, and the safety rules."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edgesync.edge.config import CONFIG_NAME, EdgeConfig, parse_listen, parse_size, valid_user
from edgesync.errors import ConfigError

MULTI = {"mode": "multi-user", "provider": {"options": {"root": "/srv/cloud/{user}"}}}


def load(data: dict, folder: Path = Path("/tmp/edge"), **overrides) -> EdgeConfig:
    return EdgeConfig.from_mapping(data, folder, **overrides)


def refused(data: dict, *words: str, **overrides) -> str:
    """Check that ``data`` is refused, with every one of ``words`` in the message."""
    with pytest.raises(ConfigError) as info:
        load(data, **overrides)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


# --- good values ---------------------------------------------------------------------


def test_an_empty_file_gives_the_documented_defaults(tmp_path):
    config = load({}, tmp_path)
    assert config.dir == tmp_path.resolve()
    assert (config.mode, config.user, config.fsync) == ("personal", "me", True)
    assert (config.host, config.port, config.tls, config.behind_proxy) == ("0.0.0.0", 8443,
                                                                            True, False)
    assert (config.threads, config.access_log) == (16, "-")
    assert (config.provider, dict(config.provider_options), dict(config.user_options)) == (
        "local", {}, {})
    assert (config.max_file_size, config.max_delta_size) == (1 << 30, 256 << 20)
    assert (config.upload_attempts, config.max_wait) == (4, 30.0)
    assert config.cert_path == tmp_path.resolve() / "tls" / "cert.pem"
    assert config.key_path == tmp_path.resolve() / "tls" / "key.pem"
    assert config.tokens_path == tmp_path.resolve() / "tokens.json"


def test_every_key_is_parsed():
    config = load({
        "mode": "multi-user", "user": "admin", "fsync": False,
        "server": {"listen": "[::1]:9000", "tls": False, "behind_proxy": True, "threads": 3,
                   "access_log": "/var/log/edge.log"},
        "provider": {"name": "dropbox", "options": {"root": "/c/{user}", "chunk": 4}},
        "limits": {"max_file_size": 5000, "max_delta_size": "2 MiB"},
        "upload": {"attempts": 7, "max_wait": 2.5},
        "users": {"alice": {"provider_options": {"root": "/alice"}}},
    })
    assert (config.mode, config.user, config.fsync) == ("multi-user", "admin", False)
    assert (config.host, config.port) == ("::1", 9000)
    assert (config.tls, config.behind_proxy, config.threads) == (False, True, 3)
    assert config.access_log == "/var/log/edge.log"
    assert config.provider == "dropbox"
    assert dict(config.provider_options) == {"root": "/c/{user}", "chunk": 4}
    assert (config.max_file_size, config.max_delta_size) == (5000, 2 << 20)
    assert (config.upload_attempts, config.max_wait) == (7, 2.5)
    assert {name: dict(table) for name, table in config.user_options.items()} == {
        "alice": {"root": "/alice"}}


@pytest.mark.parametrize(("value", "size"), [
    (1, 1), (1048576, 1048576), ("256 MiB", 256 << 20), ("1 GiB", 1 << 30),
    ("250MB", 250_000_000), ("1.5 KiB", 1536), ("10 kb", 10_000), ("7", 7), ("3 b", 3),
    (" 2 gb ", 2_000_000_000), ("4M", 4_000_000), ("1g", 10**9),
])
def test_parse_size(value, size):
    assert parse_size(value, "limits.x") == size


@pytest.mark.parametrize("value", [0, -1, True, False, "", "0 MiB", "-5", "MiB", "1 TiB",
                                   "1 mibs", "1,000", None, "0.1 b"])
def test_parse_size_refuses_what_is_not_a_size(value):
    with pytest.raises(ConfigError, match=r"limits\.max_file_size .* is not a size"):
        parse_size(value, "limits.max_file_size")


@pytest.mark.parametrize(("value", "parsed"), [
    ("0.0.0.0:8443", ("0.0.0.0", 8443)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:8443", ("::1", 8443)), ("[::]:1", ("::", 1)), ("localhost:65535", ("localhost", 65535)),
    ("edge.home.arpa:443", ("edge.home.arpa", 443)), (":8080", ("0.0.0.0", 8080)),
])
def test_parse_listen(value, parsed):
    assert parse_listen(value) == parsed


@pytest.mark.parametrize("value", ["", "8443", "host", "host:", "host:port", "host:65536",
                                   "host:123456", "[::1]", "a b:1:x", None])
def test_parse_listen_refuses_what_is_not_host_and_port(value):
    with pytest.raises(ConfigError, match="write HOST:PORT"):
        parse_listen(value)


@pytest.mark.parametrize("name", ["me", "a", "alice", "bob.smith", "x_y-z", "0day",
                                  "a" * 64])
def test_valid_user_accepts(name):
    assert valid_user(name) == name


@pytest.mark.parametrize("name", ["", "Alice", "-bob", ".hidden", "_x", "a/b", "a b", "../x",
                                  "a" * 65, "é", None, 5])
def test_valid_user_refuses_with_the_rule(name):
    with pytest.raises(ConfigError, match="lower-case letters, digits"):
        valid_user(name)


# --- bad values are named ----------------------------------------------------------


@pytest.mark.parametrize(("data", "key"), [
    ({"colour": "blue"}, "colour"),
    ({"server": {"threds": 4}}, "server.threds"),
    ({"provider": {"nmae": "local"}}, "provider.nmae"),
    ({"limits": {"max_size": 5}}, "limits.max_size"),
    ({"upload": {"tries": 5}}, "upload.tries"),
    ({"users": {"alice": {"root": "/a"}}}, "users.alice.root"),
])
def test_unknown_keys_are_refused_at_every_level(data, key):
    refused(data, "unknown setting", key)


@pytest.mark.parametrize(("data", "key"), [
    ({"mode": 1}, "mode"),
    ({"user": 7}, "user"),
    ({"fsync": "yes"}, "fsync"),
    ({"fsync": 1}, "fsync"),
    ({"server": {"listen": 8443}}, "server.listen"),
    ({"server": {"tls": "true"}}, "server.tls"),
    ({"server": {"behind_proxy": 0}}, "server.behind_proxy"),
    ({"server": {"threads": "16"}}, "server.threads"),
    ({"server": {"threads": True}}, "server.threads"),
    ({"server": {"threads": 2.0}}, "server.threads"),
    ({"server": {"access_log": False}}, "server.access_log"),
    ({"provider": {"name": 3}}, "provider.name"),
    ({"upload": {"attempts": "4"}}, "upload.attempts"),
    ({"upload": {"attempts": True}}, "upload.attempts"),
    ({"upload": {"max_wait": "30"}}, "upload.max_wait"),
    ({"upload": {"max_wait": True}}, "upload.max_wait"),
])
def test_wrong_types_are_refused_naming_the_key(data, key):
    refused(data, f"{key} = ", "must be a")


@pytest.mark.parametrize(("data", "table"), [
    ({"server": "0.0.0.0:8443"}, "[server]"),
    ({"provider": "local"}, "[provider]"),
    ({"provider": {"options": "root=/x"}}, "[provider.options]"),
    ({"limits": 5}, "[limits]"),
    ({"upload": []}, "[upload]"),
    ({"users": "alice"}, "[users]"),
    ({"users": {"alice": 1}}, "[users.alice]"),
    ({"users": {"alice": {"provider_options": 1}}}, "[users.alice.provider_options]"),
])
def test_a_value_where_a_table_belongs_is_refused_naming_the_table(data, table):
    refused(data, table, "must be a table")


@pytest.mark.parametrize("listen", ["8443", "0.0.0.0", "host:99999", "0.0.0.0:port"])
def test_bad_listen_strings_are_refused(listen):
    refused({"server": {"listen": listen}}, repr(listen), "HOST:PORT")


@pytest.mark.parametrize("key", ["max_file_size", "max_delta_size"])
@pytest.mark.parametrize("value", ["lots", "1 TB", 0, -3, "", True])
def test_bad_sizes_are_refused_naming_the_key(key, value):
    refused({"limits": {key: value}}, f"limits.{key}", "not a size")


@pytest.mark.parametrize("mode", ["Personal", "multiuser", "", "team"])
def test_bad_mode_is_refused(mode):
    refused({"mode": mode}, "mode", '"personal" or "multi-user"')


@pytest.mark.parametrize("data", [{"user": "Me"}, {"user": ""}, {"user": "a/b"},
                                  {**MULTI, "users": {"Bad Name": {}}}])
def test_bad_user_names_are_refused(data):
    refused(data, "is not allowed", "lower-case")


@pytest.mark.parametrize("threads", [0, -1, 1025, 100000])
def test_threads_out_of_range_are_refused(threads):
    refused({"server": {"threads": threads}}, "server.threads", "1 to 1024")


@pytest.mark.parametrize("threads", [1, 1024])
def test_threads_at_the_bounds_are_accepted(threads):
    assert load({"server": {"threads": threads}}).threads == threads


@pytest.mark.parametrize("attempts", [0, -2])
def test_attempts_below_one_are_refused(attempts):
    refused({"upload": {"attempts": attempts}}, "upload.attempts", "at least 1")


def test_negative_max_wait_is_refused():
    refused({"upload": {"max_wait": -1}}, "upload.max_wait")


# --- safety rules ------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "192.168.1.5:8080", "[::]:8080",
                                    "edge.home.arpa:80"])
def test_plain_http_on_the_network_is_refused(listen):
    refused({"server": {"listen": listen, "tls": False}}, "plain HTTP", "behind_proxy")


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "192.168.1.5:8080"])
def test_plain_http_on_the_network_is_allowed_behind_a_proxy(listen):
    config = load({"server": {"listen": listen, "tls": False, "behind_proxy": True}})
    assert config.tls is False and config.behind_proxy is True


@pytest.mark.parametrize("listen", ["127.0.0.1:8080", "127.0.0.2:1", "[::1]:8080",
                                    "localhost:8080"])
def test_plain_http_on_loopback_is_allowed(listen):
    assert load({"server": {"listen": listen, "tls": False}}).tls is False


def test_plain_http_by_override_is_checked_too():
    refused({}, "plain HTTP", tls=False)
    assert load({}, tls=False, host="127.0.0.1").tls is False


def test_multi_user_with_one_shared_cloud_folder_is_refused():
    refused({"mode": "multi-user", "provider": {"options": {"root": "/srv/cloud"}}},
            "multi-user", "{user}", "[users.NAME.provider_options]")


@pytest.mark.parametrize("data", [
    MULTI,
    {"mode": "multi-user", "provider": {"options": {"root": "/srv/cloud"}},
     "users": {"alice": {"provider_options": {"root": "/srv/alice"}}}},
])
def test_multi_user_with_a_folder_per_user_is_accepted(data):
    assert load(data).mode == "multi-user"


def test_options_for_fills_in_the_user_and_applies_overrides():
    config = load({"mode": "multi-user",
                   "provider": {"options": {"root": "/c/{user}", "label": "{user}'s {user}",
                                            "chunk": 4}},
                   "users": {"alice": {"provider_options": {"root": "/alice", "extra": True}}}})
    assert config.options_for("bob") == {"root": "/c/bob", "label": "bob's bob", "chunk": 4}
    assert config.options_for("alice") == {"root": "/alice", "label": "alice's alice",
                                           "chunk": 4, "extra": True}
    assert dict(config.provider_options)["root"] == "/c/{user}"  # the table is unchanged


def test_store_dir_depends_on_the_mode(tmp_path):
    personal = load({}, tmp_path)
    multi = load(MULTI, tmp_path)
    assert personal.store_dir("me") == tmp_path.resolve() / "store"
    assert multi.store_dir("alice") == tmp_path.resolve() / "users" / "alice" / "store"
    assert multi.store_dir("alice") != multi.store_dir("bob")


def test_overrides_win_and_none_overrides_are_ignored():
    config = load({"server": {"threads": 3, "access_log": "/log"}},
                  threads=None, access_log=None, port=9999, host=None)
    assert (config.threads, config.access_log, config.port, config.host) == (3, "/log", 9999,
                                                                              "0.0.0.0")


def test_overrides_are_checked_like_the_file():
    refused({}, "server.threads", threads=0)


def test_from_mapping_does_not_change_its_argument():
    data = {"server": {"threads": 3}, "provider": {"name": "local", "options": {"root": "/x"}}}
    load(data)
    assert data == {"server": {"threads": 3},
                    "provider": {"name": "local", "options": {"root": "/x"}}}


# --- load() ----------------------------------------------------------------------------


def test_load_reads_edge_toml_and_applies_overrides(tmp_path):
    (tmp_path / CONFIG_NAME).write_text(
        'mode = "personal"\nuser = "ann"\n[server]\nlisten = "127.0.0.1:0"\nthreads = 2\n'
        '[limits]\nmax_file_size = "1 MiB"\n', "utf-8")
    config = EdgeConfig.load(tmp_path, threads=5)
    assert (config.user, config.host, config.port, config.threads) == ("ann", "127.0.0.1", 0, 5)
    assert config.max_file_size == 1 << 20
    assert config.dir == tmp_path.resolve()


def test_load_of_a_missing_edge_says_to_run_init(tmp_path):
    with pytest.raises(ConfigError, match="edgesync edge init") as info:
        EdgeConfig.load(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


@pytest.mark.parametrize("text", ["mode = ", "[server\nlisten='x'", "a = 1\na = 2",
                                  "threads = 'unterminated"])
def test_load_of_bad_toml_is_a_config_error(tmp_path, text):
    (tmp_path / CONFIG_NAME).write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=CONFIG_NAME):
        EdgeConfig.load(tmp_path)


def test_load_of_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    (tmp_path / CONFIG_NAME).write_bytes(b'user = "\xff"\n')
    with pytest.raises(ConfigError, match=CONFIG_NAME):
        EdgeConfig.load(tmp_path)


def test_load_of_a_bad_value_is_a_config_error_naming_it(tmp_path):
    (tmp_path / CONFIG_NAME).write_text("[server]\nthreads = 0\n", "utf-8")
    with pytest.raises(ConfigError, match="server.threads"):
        EdgeConfig.load(tmp_path)


def test_the_documented_example_is_a_valid_configuration(tmp_path):
    """The module docstring's example parses (multi-user, with a per-user override)."""
    text = '''
mode = "multi-user"
[server]
listen = "0.0.0.0:8443"
tls = true
behind_proxy = false
threads = 16
access_log = "-"
[provider]
name = "local"
[provider.options]
root = "/srv/edgesync/cloud/{user}"
[limits]
max_file_size = "1 GiB"
max_delta_size = "256 MiB"
[upload]
attempts = 4
max_wait = 30
[users.alice.provider_options]
root = "/srv/alice-cloud"
'''
    config = EdgeConfig.from_mapping(tomllib.loads(text), tmp_path)
    assert config.options_for("alice") == {"root": "/srv/alice-cloud"}
    assert config.options_for("bob") == {"root": "/srv/edgesync/cloud/bob"}
