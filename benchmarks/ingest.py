"""Ingest + validate + score a scaled synthetic study, against the time pyarrow takes to read it.

For each size (participants; four waves each, plus session logs and evaluations) the
benchmark simulates a study in CSV formats (Qualtrics CSV waves, Dutch Excel CSV logs: the
formats pyarrow can read too), then measures in the same run:

* ``pyarrow_read_s``: the best of ``--repeat`` runs of ``pyarrow.csv.read_csv`` over every raw
  file (the reference: the least any reader of these files must spend);
* ``pipeline_s``: ``intervisie ingest`` + ``score`` (read, map, validate, pseudonymise, code,
  score, write parquet), in a fresh process, with its peak resident memory.

It reports the ratio pipeline / pyarrow and the memory per 1,000 participants, whose constancy
across sizes shows linear growth.  Goal (issue 2): ratio within 5x at 100,000 participants.
Results go to ``--out`` as JSON and to the terminal as a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.simulate import run as simulate
from pipeline.study import load_study

ROOT = Path(__file__).parents[1]


def pyarrow_read_seconds(study_dir: Path, repeat: int, *, threads: bool = True) -> float:
    """Return the best wall time of reading every raw file of a CSV study with pyarrow alone."""
    study = load_study(study_dir / "study.yaml")
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _role, source in study.sources():
            skip = 2 if source.format == "qualtrics_csv" else 0
            pacsv.read_csv(
                study_dir / source.file,
                read_options=pacsv.ReadOptions(
                    encoding=source.csv.encoding, skip_rows_after_names=skip, use_threads=threads
                ),
                parse_options=pacsv.ParseOptions(delimiter=source.csv.sep, newlines_in_values=True),
            )
        best = min(best, time.perf_counter() - start)
    return best


def measure(size: int, work: Path, repeat: int) -> dict:
    """Simulate one size and time the reference and the pipeline on it."""
    study_dir = work / f"study_{size}"
    start = time.perf_counter()
    simulate(
        ROOT / "data_raw" / "demo" / "simulation.yaml",
        ROOT / "instruments",
        study_dir,
        n_participants=size,
        formats="csv",
    )
    simulate_s = time.perf_counter() - start
    raw_mib = sum(p.stat().st_size for p in study_dir.glob("*.csv")) / 2**20
    reference = pyarrow_read_seconds(study_dir, repeat)
    single = pyarrow_read_seconds(study_dir, repeat, threads=False)
    out = work / f"clean_{size}"
    start = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.ingest_child",
            str(study_dir / "study.yaml"),
            str(out),
            str(ROOT / "instruments"),
            str(ROOT / "params.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    timing = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "participants": size,
        "raw_csv_mib": round(raw_mib, 1),
        "simulate_s": round(simulate_s, 2),
        "pyarrow_read_s": round(reference, 3),
        "pyarrow_read_1thread_s": round(single, 3),
        "ingest_s": round(timing["ingest_s"], 2),
        "score_s": round(timing["score_s"], 2),
        "pipeline_s": round(timing["ingest_s"] + timing["score_s"], 2),
        "process_wall_s": round(wall, 2),
        "ratio_to_pyarrow": round((timing["ingest_s"] + timing["score_s"]) / reference, 1),
        "ratio_to_pyarrow_1thread": round((timing["ingest_s"] + timing["score_s"]) / single, 1),
        "peak_rss_mib": round(timing["peak_rss_mib"], 1),
        "rss_mib_per_1000": round(timing["peak_rss_mib"] / size * 1000, 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse options, run every size, print the table and write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="pyarrow reads per size (best is kept)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/intervisie-bench"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes:
        print(f"size {size:,}: simulating and measuring ...", flush=True)
        rows.append(measure(size, args.work, args.repeat))
        print("  " + json.dumps(rows[-1]), flush=True)
    header = [
        "participants",
        "raw_csv_mib",
        "pyarrow_read_s",
        "pyarrow_read_1thread_s",
        "pipeline_s",
        "ratio_to_pyarrow",
        "ratio_to_pyarrow_1thread",
        "peak_rss_mib",
        "rss_mib_per_1000",
    ]
    print("\n" + " | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    report = {
        "benchmark": "ingest+validate+score vs pyarrow.csv.read_csv",
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "pyarrow": pa.__version__,
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")
