"""The one exception base of wirewatch; each package keeps its own errors beside it."""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose.

    Catching this at an entry point (CLI, agent) separates user mistakes and rejected input,
    which get a one-line message, from programming errors, which keep their traceback.
    """
