"""One timed pipeline run in its own process, so that its peak memory is its own.

Prints one JSON line: wall seconds of ingest and of score, and the peak resident set size.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from intervisie.stages.ingest import run_ingest
from intervisie.stages.score import run_score


def main() -> None:
    """Run ingest + score on the study of ``argv[1]`` into ``argv[2]`` (instruments ``argv[3]``)."""
    study, out, instruments, params = (Path(a) for a in sys.argv[1:5])
    start = time.perf_counter()
    run_ingest(study, instruments, params, out, lambda _m: None)
    ingested = time.perf_counter()
    run_score(out, instruments, out / "scale_scores.parquet", out / "data_dictionary.csv", lambda _m: None)
    done = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ingest_s": ingested - start, "score_s": done - ingested, "peak_rss_mib": peak_kib / 1024}))


if __name__ == "__main__":
    main()
