"""Compile the modules that take most of a page's CPU time with mypyc, in place.

``make install`` runs it, and every make target that runs code runs it again when a source of
``schemas/``, ``streams/`` or ``alerts/`` changed (the compiled code relies on their types).
Python imports a compiled module (``streams/<name>.cpython-*.so``, which loads their shared
``streams/stages__mypyc.cpython-*.so``) instead of the ``.py`` beside it. The results are the
same (the test suite runs on the compiled modules); the embedded pipeline is about 15% faster.

Without a C compiler the modules stay interpreted, with a warning. ``--remove`` deletes the
compiled modules (``make install COMPILE=0``).

Usage: python scripts/compile_stages.py [--remove]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP = "streams.stages"
# The cleaner, the dedup signatures and LSH, and the tagger: pure Python loops over every page's
# text. The other stages are mostly pydantic and Kafka client calls, which compiling does not speed up.
MODULES = [
    "streams/clean.py",
    "streams/clean_html.py",
    "streams/clean_text.py",
    "streams/dedup.py",
    "streams/lsh.py",
    "streams/normalize.py",
    "streams/tag.py",
]


def compiled_files() -> list[Path]:
    """The extension modules a previous build left in the source tree."""
    return sorted(ROOT.glob("streams/*.so"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--remove", action="store_true", help="only delete the compiled modules")
    args = parser.parse_args()
    # A failed or skipped build must not leave older compiled modules to shadow newer sources.
    for path in compiled_files():
        path.unlink()
    if args.remove:
        print("compile: the stage modules run interpreted")
        return 0
    compiler = shlex.split(os.environ.get("CC", "cc"))[0]
    if shutil.which(compiler) is None:
        print(f"compile: no C compiler ({compiler!r} not found); the stage modules run interpreted "
              "(same results, about 15% slower)", file=sys.stderr)
        return 0
    from mypyc.build import mypycify  # noqa: PLC0415 (mypy is a dev dependency; only this path needs it)
    from setuptools import setup  # noqa: PLC0415

    os.chdir(ROOT)
    print(f"compile: {len(MODULES)} stage modules with mypyc (about 30 s)")
    setup(
        name="wirewatch-stages",
        ext_modules=mypycify(MODULES, group_name=GROUP),
        script_args=["--quiet", "build_ext", "--inplace", "--build-temp", "build/mypyc"],
    )
    built = compiled_files()
    for path in built:  # copied from build/ with the time of their last actual compilation
        path.touch()
    print(f"compile: {', '.join(path.name.split('.')[0] for path in built)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
