"""The one table ``python -m bench`` prints: row, ours, naive baseline, ratio, target, met?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

COLUMNS = ("row", "ours", "naive baseline", "ratio", "target", "met?")


@dataclass(frozen=True)
class Row:
    """One line of the table. ``ratio`` is ours / naive; ``met`` is None where there is no target."""

    name: str
    ours: float | None
    naive: float | None = None
    fmt: str = ",.0f"
    target: str = ""
    met: bool | None = None
    met_note: str = ""
    ours_text: str | None = None  # replaces the number (e.g. "skipped: ...")
    naive_text: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.naive is None or self.naive == 0 or math.isnan(self.naive):
            return None
        return self.ours / self.naive

    def cells(self) -> list[str]:
        def num(value: float | None, text: str | None) -> str:
            if text is not None:
                return text
            if value is None or math.isnan(value):
                return "-"
            return format(value, self.fmt)

        ratio = self.ratio
        met = "" if self.met is None else ("yes" if self.met else "NO")
        if self.met_note:
            met = f"{met} ({self.met_note})" if met else self.met_note
        return [self.name, num(self.ours, self.ours_text), num(self.naive, self.naive_text),
                "-" if ratio is None else f"{ratio:.2f}x", self.target or "-", met or "-"]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def render(rows: Sequence[Row | str]) -> str:
    """Aligned plain text; a string in ``rows`` is a section heading."""
    body = [r.cells() for r in rows if isinstance(r, Row)]
    widths = [max(len(c), *(len(line[i]) for line in body)) for i, c in enumerate(COLUMNS)]
    right = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(out).rstrip()

    total = sum(widths) + 2 * (len(widths) - 1)
    lines = [line(COLUMNS), "-" * total]
    for row in rows:
        lines.append(f"[{row}]" if isinstance(row, str) else line(row.cells()))
    return "\n".join(lines)
