"""``python -m bench.profile``: where each embedded stage spends its time.

Runs each stage (and the whole pipeline) over the benchmark corpus under a profiler and prints
the top functions by self time, as a share of the stage's profiled time, with ``file:function``.
``--tool cprofile`` (default, stdlib; deterministic, but adds a cost to every Python call) or
``--tool pyinstrument`` (sampling, lower overhead; ``pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.corpus import generate
from bench.embedded import Prepared, prepare
from schemas.config import Settings, load_settings
from streams.errors import RejectedPage
from streams.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent


def short_path(path: str) -> str:
    """A path relative to the repository or to site-packages, for the report."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def stage_work(settings: Settings, prepared: Prepared) -> dict[str, Callable[[], None]]:
    """A callable per stage that runs it over the whole prepared corpus with a fresh pipeline."""
    def clean() -> None:
        pipeline = Pipeline(settings)
        for raw in prepared.raws:
            with contextlib.suppress(RejectedPage):
                pipeline.clean(raw)

    def dedup() -> None:
        pipeline = Pipeline(settings)
        for page in prepared.cleaned:
            pipeline.dedup.observe(page)

    def tag() -> None:
        pipeline = Pipeline(settings)
        for page, verdict in zip(prepared.cleaned, prepared.verdicts, strict=True):
            pipeline.tagger.tag(page, verdict)

    def rules() -> None:
        pipeline = Pipeline(settings)
        for tagged in prepared.tagged:
            pipeline.alerts_for(tagged)

    def whole() -> None:
        pipeline = Pipeline(settings)
        for _ in pipeline.run(prepared.raws):
            pass

    return {"clean": clean, "dedup": dedup, "tag": tag, "rules": rules, "pipeline": whole}


Profile = tuple[float, dict[str, float], dict[str, float]]
"""Total profiled seconds, self seconds per label, inclusive seconds per project function."""

PROJECT = ("streams/", "alerts/", "schemas/")


def _label(path: str, name: str) -> str:
    return f"{short_path(path)}:{name}"


def with_cprofile(work: Callable[[], None]) -> Profile:
    """Self and inclusive time per ``file:function`` under cProfile; built-ins are named with their caller."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    stats: Any = pstats.Stats(profiler)
    self_times: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    for (path, _line, name), (_, _, tottime, cumtime, callers) in stats.stats.items():
        if path == "~":  # a built-in: split its time among the Python functions that called it
            for (c_path, _c_line, c_name), (_, _, c_tt, _) in callers.items():
                self_times[f"{name} in {_label(c_path, c_name)}"] += c_tt
            if not callers:
                self_times[name] += tottime
            continue
        label = _label(path, name)
        self_times[label] += tottime
        if short_path(path).startswith(PROJECT):
            inclusive[label] = max(inclusive[label], cumtime)
    return sum(self_times.values()), self_times, inclusive


def with_pyinstrument(work: Callable[[], None]) -> Profile:
    """Self and inclusive time per ``file:function`` under pyinstrument's sampler (built-ins named with caller)."""
    pyinstrument: Any = importlib.import_module("pyinstrument")  # optional: pip install pyinstrument
    profiler = pyinstrument.Profiler(interval=0.0005)
    profiler.start()
    work()
    session = profiler.stop()
    self_times: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    root = session.root_frame()
    stack: list[tuple[Any, str, frozenset[str]]] = [(root, "", frozenset())] if root is not None else []
    while stack:
        frame, parent, ancestors = stack.pop()
        if frame.is_synthetic:  # "[self]" and "[await]" leaves: counted in their parent's total_self_time
            continue
        path = frame.file_path or ""
        builtin = not path or path.startswith("<")
        label = f"{frame.function} in {parent}" if builtin else _label(path, frame.function)
        own = frame.total_self_time
        if own > 0:
            self_times[label] += own
        if not builtin and short_path(path).startswith(PROJECT) and label not in ancestors:
            inclusive[label] += frame.time
        below = ancestors | {label}
        stack.extend((child, parent if builtin else label, below) for child in frame.children)
    return sum(self_times.values()), self_times, inclusive


def report(name: str, pages: int, wall: float, profile: Profile, top: int) -> str:
    total, self_times, inclusive = profile
    lines = [f"== {name}: {pages} pages, {wall:.2f} s profiled ({pages / wall:.0f} pages/s under the profiler)",
             "  self time:"]
    for label, seconds in sorted(self_times.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {100 * seconds / total:5.1f}%  {label}")
    lines.append("  inclusive time, project functions:")
    for label, seconds in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {100 * seconds / total:5.1f}%  {label}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--tool", choices=["cprofile", "pyinstrument"], default="cprofile")
    parser.add_argument("--stages", default="clean,dedup,tag,rules,pipeline")
    parser.add_argument("--config", type=Path, default=ROOT / "wirewatch.yml")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    prepared = prepare(settings, [p.raw for p in generate(args.pages, seed=args.seed)])
    gc.collect()
    gc.freeze()  # the prepared inputs stay out of the collector's way, as in a worker that holds none
    profile = with_pyinstrument if args.tool == "pyinstrument" else with_cprofile
    work = stage_work(settings, prepared)
    for stage in args.stages.split(","):
        started = time.perf_counter()
        result = profile(work[stage])
        wall = time.perf_counter() - started
        print(report(stage, len(prepared.raws), wall, result, args.top), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
