"""Measuring one thing at a time: each measurement runs in a forked child process.

A forked child starts with the parent's memory (the corpus and the prepared inputs) already
resident, so its peak RSS minus its RSS at start is what the measured code itself added: its
state, its transient garbage and anything the allocator kept. Timings use ``perf_counter``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import resource
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHILD_TIMEOUT_S = 900.0


def rss_bytes() -> int:
    """The current resident set size of this process."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The peak resident set size of this process (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def trim_heap() -> None:
    """Give free heap memory back to the OS (glibc), so reusing it shows as RSS growth."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak_rss() -> None:
    """Reset the kernel's RSS high-water mark to the current RSS, where Linux allows it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass


@dataclass(frozen=True, slots=True)
class ChildResult(Generic[R]):
    """What a child measurement returned, and the memory it added over its start."""

    value: R
    peak_rss_delta: int
    wall_s: float


def _child_main(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        gc.collect()
        gc.freeze()  # the inherited inputs are not the measured code's garbage: keep full collections off them
        trim_heap()
        reset_peak_rss()
        start_rss = rss_bytes()
        started = time.perf_counter()
        value = fn(*args)
        wall = time.perf_counter() - started
        conn.send(("ok", value, max(0, peak_rss_bytes() - start_rss), wall))
    except BaseException:  # report everything to the parent, which raises it
        conn.send(("error", traceback.format_exc(), 0, 0.0))
    finally:
        conn.close()


def in_child(fn: Callable[..., R], *args: Any, timeout: float = CHILD_TIMEOUT_S) -> ChildResult[R]:
    """Run ``fn(*args)`` in a forked child; return its value (pickled back) and its peak RSS delta.

    Arguments are not pickled (the child is a fork); only the return value is.

    Raises:
        RuntimeError: the child raised (its traceback is in the message), died or timed out.
    """
    ctx = mp.get_context("fork")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child_conn, fn, args), daemon=True)
    proc.start()
    child_conn.close()
    try:
        if not parent_conn.poll(timeout):
            raise RuntimeError(f"measurement {getattr(fn, '__name__', fn)} timed out after {timeout:.0f} s")
        status, value, delta, wall = parent_conn.recv()
    except EOFError:
        proc.join(5)
        raise RuntimeError(f"measurement {getattr(fn, '__name__', fn)} died (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        parent_conn.close()
    if status != "ok":
        raise RuntimeError(f"measurement {getattr(fn, '__name__', fn)} failed in its child:\n{value}")
    return ChildResult(value, int(delta), float(wall))



@dataclass(frozen=True, slots=True)
class Rate:
    """Items processed in a time, and the memory it took."""

    items: int
    seconds: float
    peak_rss: int = 0

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ms_per_item(self) -> float:
        return 1000.0 * self.seconds / self.items if self.items else float("nan")


def timed_loop(step: Callable[[T], object], items: Iterable[T]) -> tuple[int, float]:
    """Call ``step`` on every item, dropping results; return (count, seconds)."""
    count = 0
    started = time.perf_counter()
    for item in items:
        step(item)
        count += 1
    return count, time.perf_counter() - started


def timed_budget(step: Callable[[T], object], items: list[T], budget_s: float, minimum: int = 2) -> tuple[int, float]:
    """Like :func:`timed_loop`, but stop once ``budget_s`` is spent (after at least ``minimum`` items)."""
    count = 0
    elapsed = 0.0
    started = time.perf_counter()
    for item in items:
        step(item)
        count += 1
        elapsed = time.perf_counter() - started
        if count >= minimum and elapsed >= budget_s:
            break
    return count, elapsed
