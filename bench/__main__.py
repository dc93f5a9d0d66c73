"""``python -m bench``: the benchmark table (DESIGN §7).

Generates the corpus once (deterministic from ``--seed``), then measures, each in a forked
child: every stage and the whole embedded pipeline, ours and the naive baseline
(:mod:`bench.naive`); tagging time against watchlist size; dedup index memory against window
size; and, with ``KAFKA_BOOTSTRAP`` set, one real worker end to end. Progress goes to stderr,
the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import embedded, kafka_e2e, scaling
from bench.corpus import CorpusPage, generate
from bench.measure import in_child
from bench.report import Row, render
from schemas.config import Settings, load_settings
from schemas.pages import RawPage

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=None, help="corpus pages (default 3000; 40 with --quick)")
    parser.add_argument("--embedded-pages", type=int, default=None,
                        help="embedded rows (ours and naive) on the corpus's first N pages (default 1000; all with "
                             "--quick); the end-to-end rows use the whole corpus")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed (default 7)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each embedded measurement, the fastest counts (default 3; 1 with --quick)")
    parser.add_argument("--config", type=Path, default=ROOT / "wirewatch.yml",
                        help="configuration (default wirewatch.yml)")
    parser.add_argument("--sustained-pages", type=int, default=None,
                        help="pages of the end-to-end sustained measurement: the corpus, extended by the same "
                             "generator (default 10000, about 20 s of work at the target; the corpus with --quick)")
    parser.add_argument("--sustained-runs", type=int, default=None,
                        help="runs of the end-to-end sustained measurement, the fastest counts (default 2; 1 with "
                             "--quick)")
    parser.add_argument("--broker-warmup-pages", type=int, default=None,
                        help="pages of an uncounted drain before the sustained runs, to warm the broker's JIT "
                             "(default: as many as --sustained-pages; 0 with --quick; 0: none)")
    parser.add_argument("--no-kafka", action="store_true", help="skip the end-to-end rows")
    parser.add_argument("--naive-kafka", action="store_true",
                        help="also run the naive pipeline in a worker end to end (about 2 more minutes)")
    parser.add_argument("--quick", action="store_true", help="small sizes everywhere (smoke test)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--latency-rate", type=float, default=100.0, help="offered pages/s in the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=None, help="length of the latency phase (default 20)")
    parser.add_argument("--latency-warmup-seconds", type=float, default=None,
                        help="offered load before the latency phase's counted pages, not counted (default 5)")
    parser.add_argument("--kafka-budget", type=float, default=None,
                        help="seconds a worker gets to finish a phase's pages before the rest count as not done "
                             "(default 60; 20 with --quick)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def corpus_description(pages: Sequence[CorpusPage]) -> dict[str, Any]:
    sizes = [len(p.raw.body.encode("utf-8")) for p in pages]
    return {
        "pages": len(pages),
        "copies": sum(p.is_copy for p in pages),
        "html": sum(p.raw.content_type == "text/html" for p in pages),
        "min_kb": min(sizes) / 1024,
        "max_kb": max(sizes) / 1024,
        "mean_kb": sum(sizes) / len(sizes) / 1024,
    }


def _corpus_and_inputs(settings: Settings, pages: int, embedded_pages: int,
                       seed: int) -> tuple[dict[str, Any], list[RawPage], embedded.Prepared]:
    corpus = list(generate(pages, seed=seed))
    description = corpus_description(corpus)
    description["copies_in_embedded"] = sum(p.is_copy for p in corpus[:embedded_pages])
    raws = [p.raw for p in corpus]
    return description, raws, embedded.prepare(settings, raws[:embedded_pages])


def machine_description() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "speed_s": {"start": machine_speed()},
            "compiled": compiled_modules()}


def compiled_modules() -> list[str]:
    """The project's modules this process imported compiled (scripts/compile_stages.py), not from .py."""
    return sorted(name for name, module in sys.modules.items()
                  if name.partition(".")[0] in {"schemas", "streams", "alerts"}
                  and (getattr(module, "__file__", None) or "").endswith(".so"))


def machine_speed() -> float:
    """Seconds a fixed pure-Python loop takes (best of 3): how fast this machine is at the moment.

    On a shared host it changes by more than the differences the benchmark measures (on the
    development machine, from 0.39 to 0.70 s within ten minutes), so it is printed with them.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(10_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def build_rows(res: dict[str, Any], kafka_skip: str | None) -> list[Row | str]:
    emb = res["embedded"]
    ours, naive = emb["ours"], emb["naive"]
    rows: list[Row | str] = [f"embedded, one process: the corpus's first {ours['pipeline']['items']:,} pages"]
    for stage in embedded.STAGES:
        o, n = ours[stage], naive[stage]
        if stage == "pipeline":
            ratio = o["pages_per_s"] / n["pages_per_s"]
            met = o["pages_per_s"] >= 1000 and ratio >= 3
            rows.append(Row("pipeline pages/s", o["pages_per_s"], n["pages_per_s"], target=">=1,000 & >=3x naive",
                            met=met, met_note=f"{o['pages_per_s'] / 1000:.2f} of 1,000; {ratio:.1f}x"))
        else:
            rows.append(Row(f"{stage} pages/s", o["pages_per_s"], n["pages_per_s"]))
        rows.append(Row(f"{stage} peak RSS MB", o["peak_rss"] / MB, n["peak_rss"] / MB, fmt=",.1f"))

    rows.append("scaling")
    tag_rows = res["tag_scaling"]
    base = tag_rows[0]["ours"]["seconds"] / tag_rows[0]["ours"]["pages"]
    for i, t in enumerate(tag_rows):
        o = 1000 * t["ours"]["seconds"] / t["ours"]["pages"]
        n = 1000 * t["naive"]["seconds"] / t["naive"]["pages"]
        note = f"naive on {t['naive']['pages']} pages" if t["naive"]["pages"] < t["ours"]["pages"] else ""
        if i == len(tag_rows) - 1 and i > 0:
            growth = (o / 1000) / base
            rows.append(Row(f"tag ms/page, {t['aliases']:,} aliases", o, n, fmt=",.2f",
                            target=f"<=1.5x @{tag_rows[0]['aliases']:,}", met=growth <= 1.5,
                            met_note=f"{growth:.2f}x" + (f"; {note}" if note else "")))
        else:
            rows.append(Row(f"tag ms/page, {t['aliases']:,} aliases", o, n, fmt=",.2f", met_note=note))
    for m in res["dedup_memory"]:
        o = m["ours"]["bytes"] / m["ours"]["in_window"]
        n = m["naive"]["bytes"] / m["naive"]["in_window"]
        rows.append(Row(f"dedup B/page, {m['pages']:,} in window", o, n, target="<=2,048", met=o <= 2048))

    rows.append("end to end: one `wirewatch worker`, real broker")
    names = ("e2e pages/s sustained", "e2e p50 produce->alert s", "e2e p99 produce->alert s")
    if kafka_skip is not None:
        for name in names:
            rows.append(Row(name, None, None, ours_text=f"skipped: {kafka_skip}", naive_text="-"))
        return rows
    k = res["kafka"]
    kn = res.get("kafka_naive")
    naive_text = None if kn else "(--naive-kafka)"
    s = k["sustained"]
    rows.append(Row(names[0], s["pages_per_s"], kn["sustained"]["pages_per_s"] if kn else None, fmt=",.1f",
                    target=">=500", met=s["pages_per_s"] >= 500 and s["complete"],
                    met_note="" if s["complete"] else f"{s['done']:,}/{s['pages']:,} done in budget",
                    naive_text=naive_text))
    lat = k["latency"]
    rate = res["args"]["latency_rate"]
    rows.append(Row(f"{names[1]} @{rate:g}/s", lat["p50_s"], kn["latency"]["p50_s"] if kn else None, fmt=",.3f",
                    naive_text=naive_text))
    rows.append(Row(f"{names[2]} @{rate:g}/s", lat["p99_s"], kn["latency"]["p99_s"] if kn else None, fmt=",.3f",
                    target="<=1", met=lat["p99_s"] <= 1.0 and lat["complete"], naive_text=naive_text,
                    met_note="" if lat["complete"] else f"lower bound: {lat['censored']:,} still queued"))
    return rows


def _build_times(row: dict[str, Any]) -> str:
    return f"{row['ours']['build_s']:.1f}/{row['naive']['build_s']:.1f} s"


def notes(res: dict[str, Any]) -> list[str]:
    emb = res["embedded"]
    out = [
        "ratio = ours / naive (pages/s: higher is better; MB, ms, B: lower is better).",
        "naive = datasketch MinHash(num_perm=128) defaults updated shingle by shingle + MinHashLSH(0.5, 128); "
        "one re pattern per alias (\\b..\\b, IGNORECASE); same cleaner and rules code as ours.",
        "peak RSS = ru_maxrss of a forked child minus its RSS at start (stage state + garbage, not the inputs); "
        f"embedded rows: best of {res['args']['repeats']} runs, ours and naive interleaved.",
    ]
    truth = res["corpus"]["copies_in_embedded"]
    ours_d = emb["ours"]["dedup"]["statuses"]
    naive_d = emb["naive"]["dedup"]["statuses"]
    out.append(f"dedup verdicts: ours {ours_d}, naive {naive_d}; the pages hold {truth} republished copies.")
    t = res["tag_scaling"]
    out.append(f"tag scaling: made-up names (+ Qais al-Khazali's 3), 4 aliases per entity; ours: best of 3 passes "
               f"over {t[0]['ours']['pages']} pages each; naive regex at most ~{res['args']['naive_budget_s']:g} s per "
               f"size ({', '.join(str(r['naive']['pages']) for r in t)} pages); build/compile "
               f"{', '.join(_build_times(r) for r in t)}.")
    out.append("dedup memory: RSS growth of a child after observing N distinct short pages "
               "(1 s apart, all in the window), divided by N.")
    if "kafka" in res:
        k = res["kafka"]
        s, lat = k["sustained"], k["latency"]
        embedded_ms = 1000 / emb["ours"]["pipeline"]["pages_per_s"]
        runs = k["sustained_runs"]
        warm = k.get("broker_warmup")
        warmed = (f", after an uncounted drain of {warm['pages']:,} pages that warmed the broker (at "
                  f"{warm['pages_per_s']:.0f} pages/s)" if warm else "")
        out.append(f"e2e sustained: best of {len(runs)} run{'s' * (len(runs) > 1)} "
                   f"({', '.join(f'{r:.0f}' for r in runs)} pages/s), each on a fresh deployment{warmed}; in the best, "
                   f"{s['pages']:,} pages (the corpus, extended by its generator) produced in {s['produce_s']:.1f} s "
                   f"before the worker "
                   f"started; it took them through every stage, {s['done']:,} finished (through rules or "
                   f"dead-lettered), in {s['seconds']:.1f} s from the first page cleaned to the last finished; worker "
                   f"CPU (its process and any children) {s['worker_cpu_ms_per_page']:.2f} ms/page "
                   f"(embedded: {embedded_ms:.2f}), {s['worker_busy']:.2f} cores busy, and its threads waiting "
                   f"for a CPU {s['worker_runqueue_wait']:.2f} s per second.")
        uncounted = lat.get("warmup") or {"offered": 0}
        warm_text = (f"the first {uncounted['offered']:,} pages ({res['args']['latency_warmup_seconds']:g} s) warmed "
                     f"the worker up and are not counted (p99 {uncounted['p99_s']:.2f} s, max "
                     f"{uncounted['max_s']:.2f} s); then " if uncounted["offered"] else "")
        out.append(f"e2e latency: {warm_text}{lat['offered']:,} fresh pages offered at {lat['offered_rate']:.0f}/s, "
                   f"{lat['alerted']:,} raised a first alert, max {lat['max_s']:.2f} s"
                   + (f"; {lat['censored']:,} not tagged {res['args']['kafka_budget']:g} s after the last was "
                      "offered count with their wait so far (lower bounds)." if lat["censored"] else "."))
        if "kafka_naive" in res:
            kn = res["kafka_naive"]
            out.append(f"e2e naive: {kn['sustained']['pages']:,} pages sustained; "
                       f"latency over {kn['latency']['alerted']:,} alerted pages.")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    quick = args.quick
    pages_n = args.pages or (40 if quick else 3000)
    embedded_n = min(pages_n, args.embedded_pages or (pages_n if quick else 1000))
    alias_counts = [10, 100, 1000] if quick else [10, 1000, 100_000]
    memory_counts = [300, 1000] if quick else [10_000, 100_000]
    naive_budget_s = 0.2 if quick else 4.0
    repeats = args.repeats or (1 if quick else 3)
    sustained_runs = args.sustained_runs or (1 if quick else 2)
    sustained_n = max(pages_n, args.sustained_pages or (pages_n if quick else 10_000))
    broker_warmup_n = (0 if quick else sustained_n) if args.broker_warmup_pages is None else args.broker_warmup_pages
    latency_s = args.latency_seconds or (3.0 if quick else 20.0)
    latency_warmup_s = (1.0 if quick else 5.0) if args.latency_warmup_seconds is None else args.latency_warmup_seconds
    args.kafka_budget = args.kafka_budget or (20.0 if quick else 60.0)
    settings = load_settings(args.config)
    machine = machine_description()

    log(f"generating {pages_n} pages (seed {args.seed}) and preparing each stage's input")
    # In a child, then pickled back: the parent holds the inputs compactly, without the free heap the
    # preparation leaves behind, which forked measurements would reuse unseen by their RSS.
    description, raws, prepared = in_child(_corpus_and_inputs, settings, pages_n, embedded_n, args.seed).value
    res: dict[str, Any] = {
        "machine": machine, "corpus": description,
        "args": {"pages": pages_n, "embedded_pages": embedded_n, "repeats": repeats, "sustained_runs": sustained_runs,
                 "sustained_pages": sustained_n, "broker_warmup_pages": broker_warmup_n,
                 "seed": args.seed, "quick": quick,
                 "latency_rate": args.latency_rate, "latency_seconds": latency_s,
                 "latency_warmup_seconds": latency_warmup_s,
                 "kafka_budget": args.kafka_budget, "naive_budget_s": naive_budget_s},
    }
    res["embedded"] = embedded.measure(settings, prepared, log, repeats=repeats)
    res["tag_scaling"] = scaling.tag_scaling(alias_counts, prepared.cleaned, prepared.verdicts, naive_budget_s, log)
    res["dedup_memory"] = scaling.dedup_memory(memory_counts, settings.dedup, log)

    bootstrap = kafka_e2e.bootstrap_from(os.environ)
    kafka_skip = "--no-kafka" if args.no_kafka else (None if bootstrap else "KAFKA_BOOTSTRAP not set")
    if kafka_skip is None and bootstrap is not None:
        machine["speed_s"]["end_to_end"] = machine_speed()
        uncounted = int(args.latency_rate * latency_warmup_s)
        offered = [p.raw for p in generate(uncounted + int(args.latency_rate * latency_s), seed=args.seed + 1,
                                           with_seeds=False)]
        warmup = next(iter(generate(1, seed=args.seed + 2, with_seeds=False))).raw
        backlog = raws if sustained_n == pages_n else [p.raw for p in generate(sustained_n, seed=args.seed)]
        runs = [("ours", kafka_e2e.OURS_WORKER, backlog, "kafka")]
        if args.naive_kafka:
            runs.append(("naive", kafka_e2e.NAIVE_WORKER, backlog, "kafka_naive"))
        for label, argv_, sustained, key in runs:
            res[key] = kafka_e2e.run_e2e(
                base_config=args.config, bootstrap=bootstrap, worker_argv=list(argv_), label=label, warmup=warmup,
                sustained=sustained, offered=offered, uncounted=uncounted, rate=args.latency_rate, ready_timeout=180.0,
                sustained_budget=args.kafka_budget, drain_budget=args.kafka_budget, log=log,
                sustained_runs=sustained_runs, broker_warmup=sustained[:broker_warmup_n])

    rows = build_rows(res, kafka_skip)
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    machine["speed_s"]["end"] = machine_speed()
    res["wall_s"] = time.monotonic() - started
    c = description
    print(f"machine: {machine['cores']} cores, Python {machine['python']} ({machine['platform']}); "
          f"load average {machine['loadavg'][0]} at start, {res['machine']['loadavg_end'][0]} at end")
    print("machine speed: a fixed Python loop took " + ", ".join(
        f"{seconds:.2f} s {'before the end-to-end rows' if when == 'end_to_end' else 'at ' + when}"
        for when, seconds in machine["speed_s"].items()) + " (lower is faster)")
    compiled = machine["compiled"]
    print(f"compiled with mypyc: {', '.join(compiled)}" if compiled else
          "compiled with mypyc: none, every module ran interpreted (`make install` compiles the stage modules)")
    print(f"corpus: {c['pages']:,} pages (seed {args.seed}), {c['copies']:,} near-duplicate copies "
          f"({100 * c['copies'] / c['pages']:.0f}%), {c['html']:,} HTML / {c['pages'] - c['html']:,} text, "
          f"{c['min_kb']:.1f}-{c['max_kb']:.1f} KB (mean {c['mean_kb']:.1f} KB); {prepared.rejected} rejected by clean")
    print()
    print(render(rows))
    print()
    for note in notes(res):
        print(f"* {note}")
    print(f"bench wall time: {res['wall_s']:.0f} s")
    if args.json is not None:
        res["rows"] = [r.as_dict() for r in rows if isinstance(r, Row)]
        args.json.write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
