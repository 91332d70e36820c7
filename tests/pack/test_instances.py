"""Planning N instances: names, users and ports, and what earlier runs kept."""

from __future__ import annotations

import pytest

from edgesync.edge.setup import init_edge
from edgesync.errors import ConfigError
from edgesync.pack.instances import plan_instances


def _plan(root, count, users=(), base_port=9000):
    return plan_instances(count, root=root, prefix="edge", base_port=base_port, users=users)


def test_a_fresh_plan_names_users_and_ports(tmp_path):
    plan = _plan(tmp_path, 3, users=["ana"])
    assert [(i.name, i.user, i.port) for i in plan] == [
        ("edge-1", "ana", 9000), ("edge-2", "user2", 9001), ("edge-3", "user3", 9002)]
    assert plan[1].edge_dir == tmp_path / "edge-2" / "edge"
    with pytest.raises(ConfigError, match="given twice"):
        _plan(tmp_path, 2, users=["ana", "ana"])
    with pytest.raises(ConfigError, match="not all valid TCP ports"):
        _plan(tmp_path, 3, base_port=65534)


def test_a_kept_folder_keeps_its_user_and_refuses_another_or_a_new_port(tmp_path):
    init_edge(tmp_path / "edge-1" / "edge", user="ana", listen="0.0.0.0:9000",
              plain_http=True, behind_proxy=True, provider="local", options={"root": "/x"})
    assert [i.user for i in _plan(tmp_path, 2)] == ["ana", "user2"]
    with pytest.raises(ConfigError, match="edge-1 already serves user 'ana', not 'ben'"):
        _plan(tmp_path, 1, users=["ben"])
    with pytest.raises(ConfigError, match="listen on port 9000, not 9100: restore base_port"):
        _plan(tmp_path, 1, base_port=9100)
