"""``python -m bench.naive_worker worker --config F``: the real worker with the naive dedup and tagger.

Used by ``python -m bench --naive-kafka`` to give the end-to-end rows a baseline; everything
but the pipeline's dedup index and tagger (Faust app, topics, agents, steps) is the real thing.
"""

from __future__ import annotations

import sys

import streams.worker
from bench.naive import NaivePipeline
from streams.cli import main

if __name__ == "__main__":
    streams.worker.Pipeline = NaivePipeline  # type: ignore[attr-defined]
    sys.exit(main(sys.argv[1:]))
