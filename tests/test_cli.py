"""The ``edgesync`` command, run in-process with click's CliRunner.

Exit codes: 0 done, 2 usage, 3 configuration (see :mod:`edgesync.cli`).
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edgesync import __version__
from edgesync.cli import main
from edgesync.edge.config import EdgeConfig
from edgesync.edge.tokens import TokenStore
from edgesync.tls import fingerprint

FINGERPRINT = re.compile(r"([0-9A-F]{2}:){31}[0-9A-F]{2}")


@pytest.fixture(autouse=True)
def no_default_edge(tmp_path, monkeypatch):
    """Point the default edge folder into tmp_path, so no test touches a real edge."""
    monkeypatch.setenv("EDGESYNC_EDGE_DIR", str(tmp_path / "default-edge"))


@pytest.fixture
def run():
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(main, list(args), env=env)

    return run


@pytest.fixture
def edge_dir(tmp_path, run) -> Path:
    """An edge made by ``edgesync edge init`` (personal mode, user ``me``)."""
    folder = tmp_path / "edge"
    result = run("edge", "init", str(folder))
    assert result.exit_code == 0, result.output
    return folder


def files_under(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file's hash and mode (what 'nothing changed' compares)."""
    return {str(path): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
            for path in sorted(folder.rglob("*")) if path.is_file()}


# --- edge init ---------------------------------------------------------------------------


def test_init_creates_config_certificate_and_key(tmp_path, run):
    folder = tmp_path / "new" / "edge"
    result = run("edge", "init", str(folder))
    assert result.exit_code == 0, result.output
    config = EdgeConfig.load(folder)
    assert (config.mode, config.user, config.provider, config.tls) == ("personal", "me",
                                                                       "local", True)
    assert (config.host, config.port) == ("0.0.0.0", 8443)
    assert config.options_for("me") == {"root": str(folder.resolve() / "cloud")}
    tomllib.loads((folder / "edge.toml").read_text("utf-8"))  # plain TOML, with comments
    assert (folder / "tls" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in (folder / "tls" / "key.pem").read_text()
    assert stat.S_IMODE((folder / "tls" / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    fp = fingerprint((folder / "tls" / "cert.pem").read_bytes())
    assert f"certificate fingerprint (SHA-256): {fp}" in result.output
    assert f"edgesync edge token add me --dir {folder.resolve()}" in result.output


def test_init_json_output(tmp_path, run):
    folder = tmp_path / "edge"
    result = run("edge", "init", str(folder), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {"dir": str(folder.resolve()),
                    "config": str(folder.resolve() / "edge.toml"),
                    "fingerprint": fingerprint((folder / "tls" / "cert.pem").read_text())}
    assert FINGERPRINT.fullmatch(data["fingerprint"])


def test_init_takes_the_options_it_documents(tmp_path, run):
    folder, cloud = tmp_path / "edge", tmp_path / "clouds"
    result = run("edge", "init", str(folder), "--user", "ann", "--listen", "127.0.0.1:9443",
                 "--cloud", str(cloud), "--name", "edge.home.arpa", "--name", "10.0.0.7")
    assert result.exit_code == 0, result.output
    config = EdgeConfig.load(folder)
    assert (config.user, config.host, config.port) == ("ann", "127.0.0.1", 9443)
    assert config.options_for("ann") == {"root": str(cloud.resolve())}
    assert "edgesync edge token add ann" in result.output


def test_init_refuses_an_existing_edge_and_changes_nothing(edge_dir, run):
    before = files_under(edge_dir)
    result = run("edge", "init", str(edge_dir), "--user", "other")
    assert result.exit_code == 3
    assert "already holds an edge" in result.stderr and "nothing was changed" in result.stderr
    assert files_under(edge_dir) == before


def test_init_refusal_as_json(edge_dir, run):
    result = run("edge", "init", str(edge_dir), "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["code"] == "config_error"


def test_init_multi_user_writes_a_root_per_user(tmp_path, run):
    folder = tmp_path / "edge"
    result = run("edge", "init", str(folder), "--mode", "multi-user")
    assert result.exit_code == 0, result.output
    config = EdgeConfig.load(folder)
    assert config.mode == "multi-user"
    assert config.provider_options["root"] == str(folder.resolve() / "cloud" / "{user}")
    assert config.options_for("alice") == {"root": str(folder.resolve() / "cloud" / "alice")}


def test_init_configures_a_plugin_provider_and_checks_its_options(tmp_path, run):
    folder = tmp_path / "edge"
    result = run("edge", "init", str(folder), "--provider", "dropbox", "--option", "app_key=K",
                 "--option", "token_file=/srv/dropbox.json", "--option", "timeout=30")
    assert result.exit_code == 0, result.output
    config = EdgeConfig.load(folder)
    assert (config.provider, dict(config.provider_options)) == (
        "dropbox", {"app_key": "K", "token_file": "/srv/dropbox.json", "timeout": 30})
    typo = run("edge", "init", str(tmp_path / "typo"), "--provider", "dropbox",
               "--option", "app_kee=K")
    assert typo.exit_code == 3 and "has no option(s) app_kee (its options: app_key" in typo.stderr
    missing = run("edge", "init", str(tmp_path / "missing"), "--provider", "dropbox")
    assert missing.exit_code == 3 and "app_key" in missing.stderr
    cloud = run("edge", "init", str(tmp_path / "cloud"), "--provider", "dropbox",
                "--cloud", str(tmp_path))
    assert cloud.exit_code == 3 and "--cloud is for the local provider" in cloud.stderr
    assert not any((tmp_path / name).exists() for name in ("typo", "missing", "cloud"))


@pytest.mark.parametrize("user", ["Me", "a b", "../x", "-x", ""])
def test_init_refuses_a_bad_user_with_the_rule(tmp_path, run, user):
    folder = tmp_path / "edge"
    result = run("edge", "init", str(folder), "--user", user)
    assert result.exit_code == 3
    assert "lower-case letters, digits" in result.stderr
    assert not folder.exists()


def test_init_refuses_a_bad_listen_address(tmp_path, run):
    result = run("edge", "init", str(tmp_path / "edge"), "--listen", "8443")
    assert result.exit_code == 3 and "HOST:PORT" in result.stderr
    assert not (tmp_path / "edge").exists()


def test_init_refuses_plain_http_on_the_network(tmp_path, run):
    result = run("edge", "init", str(tmp_path / "edge"), "--plain-http")
    assert result.exit_code == 3 and "plain HTTP" in result.stderr
    assert not (tmp_path / "edge").exists()


def test_init_plain_http_on_loopback_makes_no_certificate(tmp_path, run):
    folder = tmp_path / "edge"
    result = run("edge", "init", str(folder), "--plain-http", "--listen", "127.0.0.1:8080",
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fingerprint"] is None
    assert EdgeConfig.load(folder).tls is False
    assert not (folder / "tls").exists()


def test_init_with_a_bad_mode_is_a_usage_error(tmp_path, run):
    result = run("edge", "init", str(tmp_path / "edge"), "--mode", "team")
    assert result.exit_code == 2
    assert not (tmp_path / "edge").exists()


# --- tokens ------------------------------------------------------------------------------


def test_token_add_prints_the_token_once(edge_dir, run):
    result = run("edge", "token", "add", "me", "--dir", str(edge_dir), "--label", "laptop")
    assert result.exit_code == 0, result.output
    [token] = re.findall(r"esk_[A-Za-z0-9_-]{43}", result.output)
    assert result.output.count(token) == 1
    assert "shown only this once" in result.output
    assert TokenStore(edge_dir / "tokens.json").authenticate(token) == "me"
    assert token not in (edge_dir / "tokens.json").read_text()


def test_token_add_json(edge_dir, run):
    result = run("edge", "token", "add", "me", "--dir", str(edge_dir), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"token", "id", "user", "label"}
    assert data["user"] == "me" and data["token"].startswith("esk_")
    [info] = TokenStore(edge_dir / "tokens.json").list()
    assert info.id == data["id"]
    assert TokenStore(edge_dir / "tokens.json").authenticate(data["token"]) == "me"


def test_personal_mode_refuses_a_token_for_another_user(edge_dir, run):
    result = run("edge", "token", "add", "alice", "--dir", str(edge_dir))
    assert result.exit_code == 3
    assert "personal mode for 'me'" in result.stderr
    assert not (edge_dir / "tokens.json").exists()


def test_multi_user_mode_makes_tokens_for_anyone(tmp_path, run):
    folder = tmp_path / "edge"
    run("edge", "init", str(folder), "--mode", "multi-user")
    for user in ("alice", "bob"):
        assert run("edge", "token", "add", user, "--dir", str(folder)).exit_code == 0
    assert TokenStore(folder / "tokens.json").users() == {"alice", "bob"}
    bad = run("edge", "token", "add", "Bad User", "--dir", str(folder))
    assert bad.exit_code == 3 and "lower-case letters" in bad.stderr


def test_token_list_never_shows_a_token(edge_dir, run):
    tokens = [json.loads(run("edge", "token", "add", "me", "--dir", str(edge_dir), "--label",
                             label, "--json").stdout) for label in ("laptop", "phone")]
    text = run("edge", "token", "list", "--dir", str(edge_dir))
    as_json = run("edge", "token", "list", "--dir", str(edge_dir), "--json")
    assert text.exit_code == as_json.exit_code == 0
    for made in tokens:
        assert made["token"] not in text.output and made["token"] not in as_json.output
        assert made["id"] in text.output
    assert "laptop" in text.output and "phone" in text.output
    listed = json.loads(as_json.stdout)
    assert [(item["id"], item["user"], item["label"]) for item in listed] == [
        (made["id"], "me", made["label"]) for made in tokens]
    assert all(set(item) == {"id", "user", "label", "created"} for item in listed)


def test_token_list_of_an_edge_without_tokens(edge_dir, run):
    result = run("edge", "token", "list", "--dir", str(edge_dir))
    assert result.exit_code == 0 and result.output.strip() == "no tokens"
    assert json.loads(run("edge", "token", "list", "--dir", str(edge_dir), "--json").stdout) == []


def test_token_revoke(edge_dir, run):
    made = json.loads(run("edge", "token", "add", "me", "--dir", str(edge_dir),
                          "--json").stdout)
    kept = json.loads(run("edge", "token", "add", "me", "--dir", str(edge_dir),
                          "--json").stdout)
    result = run("edge", "token", "revoke", made["id"], "--dir", str(edge_dir))
    assert result.exit_code == 0, result.output
    assert f"Revoked token {made['id']} of me" in result.output
    store = TokenStore(edge_dir / "tokens.json")
    assert store.authenticate(made["token"]) is None
    assert store.authenticate(kept["token"]) == "me"


def test_token_revoke_json(edge_dir, run):
    made = json.loads(run("edge", "token", "add", "me", "--dir", str(edge_dir),
                          "--json").stdout)
    result = run("edge", "token", "revoke", made["id"], "--dir", str(edge_dir), "--json")
    assert json.loads(result.stdout) == {"revoked": made["id"], "user": "me"}


def test_token_revoke_of_an_unknown_id_exits_3(edge_dir, run):
    run("edge", "token", "add", "me", "--dir", str(edge_dir))
    before = files_under(edge_dir)
    result = run("edge", "token", "revoke", "0000000000", "--dir", str(edge_dir))
    assert result.exit_code == 3
    assert "no token has the id '0000000000'" in result.stderr
    assert files_under(edge_dir) == before


@pytest.mark.parametrize("args", [("edge", "token", "add", "me"), ("edge", "token", "list"),
                                  ("edge", "token", "revoke", "x"), ("edge", "fingerprint")])
def test_commands_on_a_missing_edge_say_to_run_init(tmp_path, run, args):
    result = run(*args, "--dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 3
    assert "edgesync edge init" in result.stderr


# --- fingerprint and plugins ------------------------------------------------------------------


def test_fingerprint_matches_inits(tmp_path, run):
    folder = tmp_path / "edge"
    made = json.loads(run("edge", "init", str(folder), "--json").stdout)
    text = run("edge", "fingerprint", "--dir", str(folder))
    assert text.exit_code == 0 and text.output.strip() == made["fingerprint"]
    as_json = run("edge", "fingerprint", "--dir", str(folder), "--json")
    assert json.loads(as_json.stdout) == {"fingerprint": made["fingerprint"]}


def test_fingerprint_without_a_certificate_exits_3(edge_dir, run):
    (edge_dir / "tls" / "cert.pem").unlink()
    result = run("edge", "fingerprint", "--dir", str(edge_dir))
    assert result.exit_code == 3 and "cert.pem" in result.stderr


def test_plugins_lists_the_built_ins(run):
    result = run("plugins")
    assert result.exit_code == 0, result.output
    assert re.search(r"^  local +a folder", result.output, re.MULTILINE)
    assert re.search(r"^  sha256 +SHA-256", result.output, re.MULTILINE)


def test_plugins_json(run):
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"plugins", "failed", "providers", "hash_types", "pack_targets"}
    assert "local" in data["providers"] and "sha256" in data["hash_types"]
    assert {"rumprun", "docker"} <= set(data["pack_targets"])
    assert data["plugins"]["local"] == "edgesync (built-in)"


# --- help and defaults ------------------------------------------------------------------------


def every_command(group: click.Group = main, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from every_command(command, (*prefix, name))
        else:
            yield (*prefix, name)


COMMANDS = sorted(every_command())


def test_the_command_tree_is_what_the_tests_below_cover():
    assert COMMANDS == [(), ("auth",), ("demo",), ("edge",), ("edge", "fingerprint"), ("edge", "init"),
                        ("edge", "token"), ("edge", "token", "add"), ("edge", "token", "list"),
                        ("edge", "token", "revoke"), ("pair",), ("plugins",), ("push",),
                        ("serve",), ("status",), ("watch",)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "edgesync")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help(run, command, flag):
    result = run(*command, flag)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


@pytest.mark.parametrize("command", [("serve",), ("edge", "init"), ("edge", "token", "add")])
def test_help_of_the_main_commands_shows_an_example(run, command):
    result = run(*command, "--help")
    assert "Example" in result.output
    assert f"edgesync {' '.join(command)}" in result.output


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_an_unknown_command_is_a_usage_error(run):
    assert run("frobnicate").exit_code == 2


def test_edgesync_edge_dir_is_the_default_folder(tmp_path, run):
    folder = tmp_path / "from-env"
    env = {"EDGESYNC_EDGE_DIR": str(folder)}
    made = run("edge", "init", "--json", env=env)
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["dir"] == str(folder.resolve())
    assert (folder / "edge.toml").is_file()
    token = json.loads(run("edge", "token", "add", "me", "--json", env=env).stdout)
    assert TokenStore(folder / "tokens.json").authenticate(token["token"]) == "me"
    assert token["id"] in run("edge", "token", "list", env=env).output
    shown = run("edge", "fingerprint", env=env).output.strip()
    assert shown == json.loads(made.stdout)["fingerprint"]
