"""The ``rumprun`` target of ``edgesync-pack``: the edge as a unikernel ISO, and a launcher.

- :mod:`edgesync_pack_rumprun.iso` -- reproducible Rock Ridge images (pycdlib);
- :mod:`edgesync_pack_rumprun.cli` -- ``edgesync-pack rumprun``: vendor, check,
  write ``main.iso``, ``manifest.json`` and the launcher;
- :mod:`edgesync_pack_rumprun.launcher` -- ``launch create N | list | clean``.
"""
