"""Load generation for the benchmark: ``wrk`` with ``score.lua``, or a small asyncio client.

Both produce a ``LoadResult``; ``run_load`` picks ``wrk`` when it is on ``PATH``.
"""

from bench.loadgen.result import LoadResult, LoadSpec
from bench.loadgen.runner import load_generator, run_load

__all__ = ["LoadResult", "LoadSpec", "load_generator", "run_load"]
