"""The agent's configuration file and where the token is kept."""

from __future__ import annotations

import pytest

from edgesync.agent.config import AgentConfig, default_config_path
from edgesync.errors import ConfigError


def make(tmp_path, **changes) -> AgentConfig:
    values = {"url": "https://edge.example:8443", "fingerprint": "AB:" * 31 + "AB",
              "root": tmp_path / "device", "state_dir": tmp_path / "state",
              "token_file": tmp_path / "token", **changes}
    return AgentConfig(**values)


def test_save_and_load_round_trip(tmp_path):
    config = make(tmp_path, debounce=0.5, propagate_deletes=True, max_deletes=3)
    path = config.save(tmp_path / "agent.toml")
    assert AgentConfig.load(path) == config
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_token_lives_in_its_own_private_file(tmp_path):
    written = AgentConfig.store_token("https://edge.example:8443", "esk_secret",
                                      tmp_path / "token", use_keyring=False)
    assert written == tmp_path / "token"
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    config = make(tmp_path)
    assert config.token() == "esk_secret"
    assert "esk_secret" not in config.save(tmp_path / "agent.toml").read_text()


def test_a_missing_configuration_says_to_pair(tmp_path):
    with pytest.raises(ConfigError, match="edgesync pair"):
        AgentConfig.load(tmp_path / "nothing.toml")


@pytest.mark.parametrize("text", ["not toml [", "[edge]\nurl = 1\n", "[sync]\nroot = '/x'\n",
                                  "[edge]\nurl='u'\n[sync]\nroot='/r'\nstate_dir='/s'\n"
                                  "[watch]\nmax_deletes='many'\n"])
def test_a_bad_configuration_is_a_config_error(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        AgentConfig.load(path)


def test_an_unreadable_token_says_to_pair_again(tmp_path):
    with pytest.raises(ConfigError, match="pair again"):
        make(tmp_path, token_file=tmp_path / "gone").token()


def test_default_config_path_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESYNC_CONFIG", str(tmp_path / "x.toml"))
    assert default_config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("EDGESYNC_CONFIG")
    assert default_config_path().name == "agent.toml"
