"""Run the benchmarks: ``python -m benchmarks [ingest options]`` (``make bench``)."""

from benchmarks.ingest import main

main()
