"""The ``docker`` target of ``edgesync-pack``: images, a launcher, compose and Kubernetes.

- :mod:`edgesync_pack_docker.render` -- the Dockerfile, ``.dockerignore``,
  ``compose.yaml`` and Kubernetes manifests, as text;
- :mod:`edgesync_pack_docker.cli` -- ``edgesync-pack docker``;
- :mod:`edgesync_pack_docker.launcher` -- ``launch create N | list | clean``.
"""
