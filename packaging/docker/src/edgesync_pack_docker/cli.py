"""``edgesync-pack docker``: a build context for the edge's image, a launcher, compose, Kubernetes.

The output folder gets ``wheels/`` (the edge, the provider plugin and their
pure-Python closure, checked as for a unikernel), ``Dockerfile`` and
``.dockerignore``, ``launch.json`` and ``launch`` (``./launch create N``),
``compose.yaml`` for N instances and, with ``--kubernetes``,
``kubernetes/*.yaml``. ``--build`` then runs ``docker build`` (any engine the
``docker`` CLI reaches through ``DOCKER_HOST``; ``$EDGESYNC_DOCKER`` names
another program, e.g. ``podman``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import click

from edgesync.edge.setup import parse_option_items
from edgesync.errors import PackError
from edgesync.pack.cli import pip_args, progress, run_pack, vendor_options

__all__ = ["pack_docker"]


@click.command("docker")
@vendor_options
@click.option("--python-version", metavar="X.Y",
              help="The image's Python (default: this interpreter's); the base image "
                   "must have it.")
@click.option("--base-image", metavar="IMAGE",
              help="The image to build on; any with python3 and its venv module "
                   "(default: python:X.Y-slim-bookworm). A build argument, so "
                   "'docker build --build-arg BASE_IMAGE=...' overrides it later.")
@click.option("--tag", default="edgesync-edge:latest", show_default=True,
              help="The image's name and tag.")
@click.option("-n", "--instances", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="Instances in compose.yaml and in the Kubernetes StatefulSet.")
@click.option("--user", "users", multiple=True, metavar="NAME",
              help="The user of instance 1, 2, ... (repeatable; the rest are user<i>).")
@click.option("--base-port", default=8443, show_default=True, type=click.IntRange(1, 65535),
              help="Instance i listens on BASE_PORT + i - 1 (in Kubernetes, every pod "
                   "on BASE_PORT).")
@click.option("--plain-http", is_flag=True,
              help="Instances serve HTTP behind a TLS-terminating proxy (the launcher then "
                   "publishes on the host's loopback only).")
@click.option("--name", "names", multiple=True, metavar="HOST",
              help="A host name or address devices use (repeatable; put in each "
                   "instance's certificate). Default: localhost, 127.0.0.1.")
@click.option("--kubernetes", "with_kubernetes", is_flag=True,
              help="Also write kubernetes/: a StatefulSet, a headless Service and a Secret "
                   "template per user.")
@click.option("--namespace", metavar="NAME", help="The Kubernetes namespace of the manifests.")
@click.option("--build", "build_image", is_flag=True,
              help="Build the image with 'docker build' once the context is written.")
def pack_docker(provider: str, out: str, options: tuple[str, ...], find_links: tuple[str, ...],
                offline: bool, python_version: str | None, base_image: str | None, tag: str,
                instances: int, users: tuple[str, ...], base_port: int, plain_http: bool,
                names: tuple[str, ...], with_kubernetes: bool, namespace: str | None,
                build_image: bool) -> None:
    """Write a container build context for the edge, a launcher for N, compose, Kubernetes.

    The image installs exactly the vendored wheels (no index, no network),
    runs the edge as a non-root user with its folder (edge.toml, certificate,
    hashed token) mounted read-only from a secret and its versions in a
    volume, and reports health with 'python3 -m edgesync.edge.health'.

    \b
    Examples:
      edgesync-pack docker --provider local --out build/docker --build
      build/docker/launch create 3 --user ana --user ben --user eva
      edgesync-pack docker --provider onedrive --out build/k8s -n 50 --kubernetes \\
          --option client_id=APP-ID --option token_cache=/var/lib/edgesync/onedrive.json
    """
    run_pack(lambda: _build(
        provider=provider, out=Path(out), options=parse_option_items(options),
        pip=pip_args(find_links, offline), python_version=python_version,
        base_image=base_image, tag=tag, count=instances, users=list(users),
        base_port=base_port, plain_http=plain_http, names=list(names),
        with_kubernetes=with_kubernetes, namespace=namespace, build_image=build_image))


def _build(*, provider: str, out: Path, options: dict, pip: list[str],
           python_version: str | None, base_image: str | None, tag: str, count: int,
           users: list[str], base_port: int, plain_http: bool, names: list[str],
           with_kubernetes: bool, namespace: str | None, build_image: bool) -> int:
    from edgesync.pack import vendor_edge
    from edgesync.pack.instances import plan_instances, write_launcher
    from edgesync.pack.vendor import TargetPython
    from edgesync_pack_docker import render
    from edgesync_pack_docker.launcher import LaunchConfig, default_launcher_id, docker_program

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PackError(f"{out} exists and is not an empty folder; give a new --out")
    target = TargetPython.parse(python_version or f"{sys.version_info[0]}."
                                f"{sys.version_info[1]}", sys_platform="linux")
    options = render.default_options(provider, options)
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    progress(f"packaging an edge with provider {provider!r} as a container image "
             f"(Python {target.dotted})")
    wheels = out / "wheels"
    with tempfile.TemporaryDirectory(prefix="edgesync-pack-") as tmp:
        edge = vendor_edge(provider, target=target, tree=Path(tmp) / "site-packages",
                           wheels=wheels, pip_args=pip,
                           alternative="The docker target needs a base image with Python "
                                       "3.11 or newer.", progress=progress)
    keep = {dist.wheel.name for dist in edge.closure.dists}
    for stray in wheels.glob("*.whl"):
        if stray.name not in keep:
            stray.unlink()
    spec = render.DockerSpec(provider=provider, plugin=edge.plugin,
                             base_image=base_image or f"python:{target.dotted}-slim-bookworm",
                             python_version=target.dotted, port=base_port, image=tag,
                             wheels=sorted(keep))
    (out / "Dockerfile").write_text(render.dockerfile(spec), "utf-8")
    (out / ".dockerignore").write_text(render.dockerignore(spec), "utf-8")
    config = LaunchConfig(image=tag, provider=provider, provider_options=options,
                          base_port=base_port, plain_http=plain_http,
                          names=tuple(names) or ("localhost", "127.0.0.1"),
                          launcher_id=default_launcher_id(out))
    config.dump(out / "launch.json")
    write_launcher(out, "edgesync_pack_docker.launcher",
                   what="Start, list and remove this folder's edgesync edge containers.",
                   distribution="edgesync-pack-docker")
    plan = plan_instances(count, root=out / "instances", prefix=config.prefix,
                          base_port=base_port, users=users)
    (out / "compose.yaml").write_text(
        render.compose(spec, plan, instances_root="./instances",
                       launcher_id=config.launcher_id), "utf-8")
    written = ["Dockerfile", ".dockerignore", "wheels/", "launch", "compose.yaml"]
    if with_kubernetes:
        folder = out / "kubernetes"
        folder.mkdir()
        manifests = render.kubernetes(spec, [item.user for item in plan], namespace=namespace,
                                      options=options, plain_http=plain_http,
                                      behind_proxy=plain_http)
        for name, text in manifests.items():
            (folder / name).write_text(text, "utf-8")
        written.append(f"kubernetes/ ({len(manifests)} manifests)")
    click.echo(f"Wrote {out}: {', '.join(written)}; {len(keep)} wheels, "
               f"Python {target.dotted}.")
    if build_image:
        argv = [*docker_program(), "build", "--build-arg", f"BASE_IMAGE={spec.base_image}",
                "-t", tag, str(out)]
        progress(" ".join(argv))
        if subprocess.run(argv, check=False).returncode != 0:
            raise PackError(f"'{' '.join(argv)}' failed (its output is above); the build "
                            f"context in {out} is complete, fix the engine and run it again")
        click.echo(f"Built {tag}. Next: {out / 'launch'} create N")
    else:
        click.echo(f"Next: docker build -t {tag} {out}, then {out / 'launch'} create N "
                   f"(or edit and use compose.yaml after '{out / 'launch'} prepare "
                   f"{count}')")
    return 0
