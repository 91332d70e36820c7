"""``python -m edgesync.edge``: ``edgesync serve`` (what packaged images run)."""

from edgesync.cli import serve

serve()
