"""Run a benchmark: ``python -m benchmarks [ingest|mixed|coverage|plan|pipeline] [options]`` (``make bench`` runs ingest and mixed)."""

import sys

from benchmarks import coverage, ingest, mixed, pipeline, plan

BENCHMARKS = {"ingest": ingest.main, "mixed": mixed.main, "coverage": coverage.main, "plan": plan.main, "pipeline": pipeline.main}

name = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in BENCHMARKS else "ingest"
args = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] in BENCHMARKS else sys.argv[1:]
BENCHMARKS[name](args)
