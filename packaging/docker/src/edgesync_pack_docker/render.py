"""The text of a Docker bundle: Dockerfile, ``.dockerignore``, Compose and Kubernetes files.

``edgesync-pack docker --out DIR`` writes, beside ``DIR/wheels/`` (the edge,
its provider plugin and every dependency, as pure-Python wheels):

- ``Dockerfile`` (:func:`dockerfile`): installs exactly those wheels into the
  virtual environment ``/opt/edgesync`` with ``pip install --no-index
  --no-deps`` (no package index, no network, no ``apt``), checks that the
  edge imports, and runs ``python3 -m edgesync.edge`` as a numeric non-root
  user. The edge's folder (``edge.toml``, ``tls/cert.pem``, ``tls/key.pem``,
  ``tokens.json``) is a read-only mount at ``/run/secrets/edgesync``; its
  versions live in the volume ``/var/lib/edgesync``.
- ``.dockerignore`` (:func:`dockerignore`): everything but the Dockerfile and
  ``wheels/``, so instance folders (tokens, private keys) never reach the
  build context.
- ``compose.yaml`` (:func:`compose`): one service per instance, each on its
  own port, with its edge folder and a named volume.
- ``kubernetes/*.yaml`` (:func:`kubernetes`): a headless Service, a
  StatefulSet whose pod ``NAME-i`` serves user ``i``, and one Secret template
  per user.

Every function returns text (or a mapping of file names to text) and writes
nothing; the caller writes the files.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import Any

import attrs
import yaml

from edgesync.edge.config import valid_user
from edgesync.errors import ConfigError
from edgesync.pack.instances import Instance

__all__ = [
    "EDGE_DIR",
    "HEALTH_COMMAND",
    "LOCAL_ROOT",
    "RUN_COMMAND",
    "STATE_DIR",
    "VENV",
    "DockerSpec",
    "compose",
    "default_options",
    "dockerfile",
    "dockerignore",
    "kubernetes",
    "state_volume",
]

#: Where the image expects the edge's folder (a read-only mount or secret).
EDGE_DIR = "/run/secrets/edgesync"
#: The image's writable volume: the edge's versions (``EDGESYNC_STATE_DIR``).
STATE_DIR = "/var/lib/edgesync"
#: The virtual environment the wheels are installed into.
VENV = "/opt/edgesync"
#: The local provider's cloud folder inside the container (in the state volume).
LOCAL_ROOT = f"{STATE_DIR}/cloud"
#: The container's command (exec form).
RUN_COMMAND = ("python3", "-m", "edgesync.edge")
#: The health probe (exec form): exits 0 when the edge answers ``GET /v1/health``.
HEALTH_COMMAND = ("python3", "-m", "edgesync.edge.health")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
_PLUGINS = re.compile(r"[A-Za-z0-9_.,-]*\Z")
_WHEEL = re.compile(r"[A-Za-z0-9_.+!-]+\.whl\Z")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@-]*\Z")
_PYTHON = re.compile(r"3\.\d{1,2}\Z")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_QUANTITY = re.compile(r"\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?\Z")


_Validator = Callable[[Any, Any, Any], None]


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (edge.toml, placeholders) as ``|`` blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=4096, allow_unicode=False)


def _check(pattern: re.Pattern[str], rule: str) -> _Validator:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, str) or not pattern.match(value):
            raise ConfigError(f"{attribute.name} = {value!r} is not allowed: {rule}")
    return validate


def _int_range(low: int, high: int) -> _Validator:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{attribute.name} = {value!r} is not allowed: "
                              f"give a whole number from {low} to {high}")
    return validate


def _check_wheels(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value:
        raise ConfigError("wheels is empty: the image is built from the wheels in wheels/ "
                          "only; vendor the edge and its dependencies first")
    for name in value:
        if not isinstance(name, str) or not _WHEEL.match(name):
            raise ConfigError(f"wheels: {name!r} is not a wheel file name (NAME-VERSION-"
                              "...-TAG.whl, without a folder)")
    if len(set(value)) != len(value):
        raise ConfigError("wheels: a file name is given twice")
    if not any(name.lower().startswith("edgesync-") for name in value):
        raise ConfigError("wheels: no edgesync-*.whl among them; the image needs the edge "
                          "itself (build it with 'pip wheel --no-deps .' in the project)")


@attrs.frozen(kw_only=True)
class DockerSpec:
    """What the image holds and how it runs.

    :ivar provider: the provider the edges use (``local`` or a plugin's provider).
    :ivar plugin: the entry-point name(s) put in ``EDGESYNC_LOAD_PLUGINS``
        (comma-separated; may equal ``provider``); empty for the built-in
        ``local`` provider, so no installed plugin is loaded at all.
    :ivar base_image: the default of the Dockerfile's ``BASE_IMAGE`` argument:
        an image with ``python3`` (and its ``venv`` module) of
        :attr:`python_version`.
    :ivar python_version: the Python the wheels were chosen for (``3.X``).
    :ivar port: the port the edge listens on inside the image (``EXPOSE``;
        every pod's port in Kubernetes).
    :ivar uid: the numeric, non-root user and group the edge runs as.
    :ivar image: the image's tag (``docker build -t``).
    :ivar wheels: the file names in ``wheels/``, all installed; one must be
        ``edgesync-*.whl``.
    :raises ConfigError: a value that would make a broken image, naming the field.
    """

    provider: str = attrs.field(validator=_check(
        _NAME, "use letters, digits, '.', '_' or '-'"))
    plugin: str = attrs.field(default="", validator=_check(
        _PLUGINS, "comma-separated entry-point names (letters, digits, '.', '_', '-')"))
    base_image: str = attrs.field(default="python:3.11-slim-bookworm", validator=_check(
        _IMAGE, "an image reference such as python:3.11-slim-bookworm"))
    python_version: str = attrs.field(default="3.11", validator=_check(
        _PYTHON, "give the Python version as 3.X"))
    port: int = attrs.field(default=8443, validator=_int_range(1, 65535))
    uid: int = attrs.field(default=10001, validator=_int_range(1, 2**31 - 1))
    image: str = attrs.field(default="edgesync-edge:latest", validator=_check(
        _IMAGE, "an image tag such as edgesync-edge:latest"))
    wheels: tuple[str, ...] = attrs.field(converter=tuple, validator=_check_wheels)

    @property
    def version(self) -> str:
        """The edgesync version, read from the ``edgesync-VERSION-*.whl`` file name."""
        for name in self.wheels:
            parts = name.split("-")
            if parts[0].lower() == "edgesync" and len(parts) >= 5:
                return parts[1]
        return "unknown"


def default_options(provider: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The provider options an image's edges get: the given ones, or for
    ``local`` the cloud folder :data:`LOCAL_ROOT` (inside the state volume)."""
    if options:
        return dict(options)
    return {"root": LOCAL_ROOT} if provider == "local" else {}


def state_volume(instance_name: str) -> str:
    """The name of the volume that holds an instance's versions (``NAME-state``)."""
    return f"{instance_name}-state"


# --- Dockerfile ------------------------------------------------------------------


def dockerfile(spec: DockerSpec) -> str:
    """The Dockerfile that builds the edge's image from ``wheels/``, offline.

    Two stages: the first makes the virtual environment :data:`VENV` and
    installs every wheel of ``spec.wheels`` with ``pip install --no-index
    --no-deps --no-cache-dir`` (the wheels are a complete closure); the second
    copies it onto a fresh base, checks that ``edgesync.edge.server`` imports
    with that Python alone (``-I``), and runs the edge as ``spec.uid``.

    :param spec: the image's description.
    :returns: the Dockerfile's text (it passes ``hadolint --failure-threshold warning``).
    """
    wheels = " \\\n".join(f"        /tmp/wheels/{name}" for name in spec.wheels)
    plugins = spec.plugin or '""'
    uid = spec.uid
    return f"""\
# The edgesync edge ({spec.provider} provider), written by 'edgesync-pack docker'.
#
# Build it from this folder; nothing is downloaded (no package index, no apt):
#   docker build -t {spec.image} .
# With another base that has Python {spec.python_version} and its venv module:
#   docker build --build-arg BASE_IMAGE=my.registry/python:{spec.python_version} -t {spec.image} .
#
# Run it with the edge's folder (edge.toml, tls/cert.pem, tls/key.pem,
# tokens.json) mounted read-only at {EDGE_DIR} and a volume at
# {STATE_DIR}; './launch create N' does that for N users.
ARG BASE_IMAGE={spec.base_image}

FROM ${{BASE_IMAGE}} AS build
# Only the wheels copied here are installed: a complete, pinned closure.
COPY wheels/ /tmp/wheels/
RUN python3 -m venv {VENV} \\
 && {VENV}/bin/python3 -m pip install --no-index --no-deps --no-cache-dir \\
{wheels}

FROM ${{BASE_IMAGE}}
LABEL org.opencontainers.image.title="edgesync-edge" \\
      org.opencontainers.image.description="edgesync edge service: low-bandwidth document sync" \\
      org.opencontainers.image.version="{spec.version}" \\
      org.opencontainers.image.licenses="MIT" \\
      io.edgesync.provider="{spec.provider}"
COPY --from=build {VENV} {VENV}
ENV PATH={VENV}/bin:$PATH \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    EDGESYNC_EDGE_DIR={EDGE_DIR} \\
    EDGESYNC_STATE_DIR={STATE_DIR} \\
    EDGESYNC_LOAD_PLUGINS={plugins}
# The edge must import from the installed wheels alone (-I: no PYTHONPATH,
# user site or current folder); the state folder belongs to the edge's user.
RUN {VENV}/bin/python3 -I -c "import edgesync.edge.server" \\
 && mkdir -p {STATE_DIR} {EDGE_DIR} \\
 && chown {uid}:{uid} {STATE_DIR} \\
 && chmod 0700 {STATE_DIR}
VOLUME ["{STATE_DIR}"]
EXPOSE {spec.port}
USER {uid}:{uid}
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \\
    CMD {_exec_form(HEALTH_COMMAND)}
CMD {_exec_form(RUN_COMMAND)}
"""


def _exec_form(argv: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{arg}"' for arg in argv) + "]"


def dockerignore(spec: DockerSpec) -> str:
    """The ``.dockerignore``: the build context is the Dockerfile and ``wheels/`` only.

    Instance folders beside them hold device tokens and private keys, which
    must never be sent to the engine as build context.

    :param spec: the image's description (the same for every spec today).
    """
    return ("# Only the Dockerfile and the wheels are build context; instance folders\n"
            "# (tokens, private keys), launch files and manifests stay out.\n"
            "*\n"
            "!Dockerfile\n"
            "!wheels/*.whl\n")


# --- Compose ---------------------------------------------------------------------


def _healthcheck() -> dict[str, Any]:
    return {"test": ["CMD", *HEALTH_COMMAND], "interval": "30s", "timeout": "10s",
            "retries": 3, "start_period": "20s"}


def compose(spec: DockerSpec, instances: Sequence[Instance], *,
            instances_root: str | PathLike[str] = "./instances", launcher_id: str = "") -> str:
    """``compose.yaml``: one service per instance, each on its own port.

    Service ``NAME`` runs :attr:`DockerSpec.image`, publishes ``PORT:PORT``
    (each edge's ``edge.toml`` listens on ``0.0.0.0:PORT``), mounts its edge
    folder read-only at :data:`EDGE_DIR` and the volume ``NAME-state`` (the
    same one ``./launch create`` uses) at :data:`STATE_DIR`.

    :param instances: from :func:`edgesync.pack.instances.plan_instances`.
    :param instances_root: the folder holding the instance folders, as written
        in the file (relative paths are relative to ``compose.yaml``); the edge
        folder of instance ``NAME`` is ``INSTANCES_ROOT/NAME/edge``. Give
        ``"./instances"`` (the default) to keep the bundle movable, or an
        absolute path.
    :param launcher_id: the ``io.edgesync.launcher`` label, so ``./launch
        list`` and ``./launch clean`` see these containers too; omitted when empty.
    :raises ConfigError: no instances, or two with the same name or port.
    """
    if not instances:
        raise ConfigError("compose needs at least one instance")
    if len({i.name for i in instances}) != len(instances):
        raise ConfigError("two instances have the same name")
    if len({i.port for i in instances}) != len(instances):
        raise ConfigError("two instances have the same port")
    root = str(instances_root).rstrip("/") or "."
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for inst in instances:
        labels = {"io.edgesync.instance": inst.name, "io.edgesync.user": inst.user}
        if launcher_id:
            labels = {"io.edgesync.launcher": launcher_id, **labels}
        volume = state_volume(inst.name)
        services[inst.name] = {
            "image": spec.image,
            "restart": "unless-stopped",
            "ports": [f"{inst.port}:{inst.port}"],
            "volumes": [
                {"type": "bind", "source": f"{root}/{inst.folder.name}/edge",
                 "target": EDGE_DIR, "read_only": True},
                {"type": "volume", "source": volume, "target": STATE_DIR},
            ],
            "labels": labels,
            "healthcheck": _healthcheck(),
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
        }
        volumes[volume] = {"name": volume, "labels": labels}
    users = " ".join(f"--user {inst.user}" for inst in instances)
    header = (
        f"# {len(instances)} edgesync edge(s), one user each, written by 'edgesync-pack docker'.\n"
        "# Each service mounts its edge folder (edge.toml, certificate, hashed token)\n"
        f"# from {root}/NAME/edge; make the folders first (and see how to pair devices):\n"
        f"#   ./launch prepare {len(instances)} {users}\n"
        "# then build the image and start:\n"
        f"#   docker build -t {spec.image} . && docker compose up -d\n")
    return header + _dump({"services": services, "volumes": volumes})


# --- Kubernetes ------------------------------------------------------------------


def _placeholder(what: str, command: str) -> str:
    return f"REPLACE ME: {what}, made by: {command}\n"


def kubernetes(spec: DockerSpec, users: Sequence[str], *, namespace: str | None = None,
               name: str = "edgesync-edge", options: Mapping[str, Any] | None = None,
               plain_http: bool = False, behind_proxy: bool = False,
               storage: str = "1Gi", storage_class: str | None = None) -> dict[str, str]:
    """Kubernetes manifests for one edge per user: file name -> YAML text.

    - ``service.yaml``: the headless Service ``NAME`` (``clusterIP: None``),
      which gives pod ``NAME-i`` the DNS name ``NAME-i.NAME.NAMESPACE.svc``.
    - ``statefulset.yaml``: ``replicas: len(users)``; pod ``NAME-i`` serves
      ``users[i]``. Every Secret is projected into one read-only volume, each
      under a folder named after its pod (``NAME-i/edge.toml``,
      ``NAME-i/tls/cert.pem``...), and ``EDGESYNC_EDGE_DIR`` is
      ``/run/secrets/edgesync/$(POD_NAME)`` (downward API). A volume per pod
      (``volumeClaimTemplates``) holds the versions; health probes, resources
      and a restricted security context are set.
    - ``secret-NAME-i.yaml``: the Secret ``NAME-i`` for ``users[i]``: a real
      ``edge.toml`` (listening on ``0.0.0.0:PORT``) and placeholders, naming
      the ``edgesync`` command that makes each, for ``cert.pem``, ``key.pem``
      and ``tokens.json``.

    Every pod listens on :attr:`DockerSpec.port`. Each pod can read every
    user's Secret (one pod template serves all): for users who must not share
    a failure domain, render one StatefulSet per user (``users=[user]`` and
    ``name=...``).

    :param users: the users, in pod order.
    :param namespace: put every object in this namespace (default: the
        ``kubectl`` context's).
    :param name: the StatefulSet, Service and pod name prefix (a DNS label).
    :param options: the provider's options (default: see :func:`default_options`).
    :param plain_http: ``tls = false`` (then ``behind_proxy`` must be set and
        no certificate is used).
    :param storage: each pod's volume size (a Kubernetes quantity).
    :param storage_class: the volumes' StorageClass (default: the cluster's).
    :raises ConfigError: no users, a bad or repeated user, a bad name,
        namespace or size, or an ``edge.toml`` the edge would refuse.
    """
    from edgesync.edge.setup import render_config

    if not users:
        raise ConfigError("kubernetes needs at least one user (one pod each)")
    for user in users:
        valid_user(user)
    if len(set(users)) != len(users):
        raise ConfigError("each pod needs its own user; a name is given twice")
    if not _DNS_LABEL.match(name) or len(name) > 52:
        raise ConfigError(f"name = {name!r} is not allowed: use at most 52 lower-case letters, "
                          "digits and '-' (pods are NAME-0, NAME-1...)")
    if namespace is not None and not _DNS_LABEL.match(namespace):
        raise ConfigError(f"namespace = {namespace!r} is not a DNS label (lower-case letters, "
                          "digits and '-')")
    if not _QUANTITY.match(storage):
        raise ConfigError(f"storage = {storage!r} is not a Kubernetes quantity such as 1Gi")
    options = default_options(spec.provider, options)
    tls = not plain_http
    port_name = "https" if tls else "http"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "edge",
              "app.kubernetes.io/part-of": "edgesync"}

    def meta(object_name: str, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"name": object_name}
        if namespace:
            data["namespace"] = namespace
        data["labels"] = dict(labels)
        data.update(extra)
        return data

    keys = {"edge.toml": "edge.toml", "tokens.json": "tokens.json"}
    if tls:
        keys.update({"cert.pem": "tls/cert.pem", "key.pem": "tls/key.pem"})
    pods = [f"{name}-{i}" for i in range(len(users))]
    files: dict[str, str] = {}

    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(name),
        "spec": {"clusterIP": "None", "selector": {"app.kubernetes.io/name": name},
                 "ports": [{"name": port_name, "port": spec.port, "targetPort": port_name,
                            "protocol": "TCP"}]},
    }
    files["service.yaml"] = (
        f"# The headless Service that names each edge pod: {pods[0]}.{name}"
        f"{'.' + namespace if namespace else ''}.svc ...\n"
        "# Devices outside the cluster need a route to their own pod (a per-pod\n"
        "# LoadBalancer/NodePort Service selecting statefulset.kubernetes.io/pod-name,\n"
        "# or a TLS-passthrough proxy): the edge's certificate is pinned end to end.\n"
        + _dump(service))

    probe = {"exec": {"command": list(HEALTH_COMMAND)}, "timeoutSeconds": 8}
    projected = [{"secret": {"name": pod, "items": [
        {"key": key, "path": f"{pod}/{path}"} for key, path in keys.items()]}}
        for pod in pods]
    claim_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": storage}}}
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": meta(name),
        "spec": {
            "serviceName": name,
            "replicas": len(users),
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                     "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": spec.uid,
                                        "runAsGroup": spec.uid, "fsGroup": spec.uid,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "edge",
                        "image": spec.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": list(RUN_COMMAND),
                        "ports": [{"name": port_name, "containerPort": spec.port,
                                   "protocol": "TCP"}],
                        "env": [
                            {"name": "POD_NAME",
                             "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "EDGESYNC_EDGE_DIR", "value": f"{EDGE_DIR}/$(POD_NAME)"},
                            {"name": "EDGESYNC_STATE_DIR", "value": STATE_DIR},
                        ],
                        "readinessProbe": {**probe, "initialDelaySeconds": 3,
                                           "periodSeconds": 10, "failureThreshold": 3},
                        "livenessProbe": {**probe, "initialDelaySeconds": 30,
                                          "periodSeconds": 30, "failureThreshold": 3},
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"memory": "256Mi"}},
                        "securityContext": {"runAsNonRoot": True, "runAsUser": spec.uid,
                                            "runAsGroup": spec.uid,
                                            "allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [
                            {"name": "edge-folders", "mountPath": EDGE_DIR, "readOnly": True},
                            {"name": "state", "mountPath": STATE_DIR},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }],
                    "volumes": [
                        {"name": "edge-folders",
                         # 0440 with fsGroup: the edge's group reads its key, nobody else.
                         "projected": {"defaultMode": 0o440, "sources": projected}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "state", "labels": dict(labels)},
                                      "spec": claim_spec}],
        },
    }
    files["statefulset.yaml"] = (
        f"# {len(users)} edges: pod {name}-i serves one user and reads its folder\n"
        f"# {EDGE_DIR}/{name}-i/ from the Secret {name}-i (see secret-*.yaml).\n"
        "# The Secrets must exist before the pods start; the image must be in a\n"
        "# registry the cluster pulls from (docker tag/push it first).\n"
        + _dump(statefulset))

    init_options = "".join(f" --option {shlex.quote(f'{key}={value}')}"
                           for key, value in options.items())
    for pod, user in zip(pods, users, strict=True):
        init = (f"edgesync edge init EDGE_DIR --user {user} --listen 0.0.0.0:{spec.port} "
                f"--provider {spec.provider}{init_options} --name HOST"
                + (" --plain-http" if plain_http else ""))
        toml = render_config(user=user, listen=f"0.0.0.0:{spec.port}", plain_http=plain_http,
                             behind_proxy=behind_proxy, provider=spec.provider,
                             options=options)
        data = {"edge.toml": toml,
                "tokens.json": _placeholder(
                    f"{user}'s hashed device tokens (tokens.json)",
                    f"edgesync edge token add {user} --dir EDGE_DIR "
                    "(the token itself goes to the device; this file holds only its hash)")}
        if tls:
            data["cert.pem"] = _placeholder(
                "the edge's certificate (tls/cert.pem)",
                f"{init} (devices pin its fingerprint: edgesync edge fingerprint EDGE_DIR)")
            data["key.pem"] = _placeholder(
                "the edge's private key (tls/key.pem)",
                "the same 'edgesync edge init', beside tls/cert.pem")
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": meta(pod, annotations={"io.edgesync/user": user,
                                                      "io.edgesync/pod": pod}),
                  "type": "Opaque", "stringData": data}
        from_files = " ".join(f"--from-file={key}=EDGE_DIR/{path}" for key, path in keys.items())
        ns = f" -n {namespace}" if namespace else ""
        files[f"secret-{pod}.yaml"] = (
            f"# The folder of pod {pod}, the edge of user {user!r}: a template.\n"
            "# Easiest: make the edge with edgesync, then create the Secret from it:\n"
            f"#   {init}\n"
            f"#   edgesync edge token add {user} --dir EDGE_DIR   (give the token to the device)\n"
            f"#   kubectl{ns} create secret generic {pod} {from_files}\n"
            "# or replace every REPLACE ME value below and 'kubectl apply' this file.\n"
            + _dump(secret))
    return files
