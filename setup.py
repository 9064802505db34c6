"""Compiled accelerators, all optional: a build without a C compiler still installs, and every
accelerated path has a pure-Python twin that tests hold it equal to (docs/benchmarks.md).

Metadata lives in pyproject.toml; this file only lists extension modules. ``PURE_PYTHON_BUILD=1``
builds without them, for a ``py3-none-any`` wheel (the Snowflake RESCORE UDF imports riskscore from
its wheel, a zip file, where no extension module can load anyway: deploy/rescore-udf.md).
"""

from __future__ import annotations

import os

import lxml
from setuptools import Extension, setup

EXTENSIONS = [
    # Reads the Rx tree lxml has built (its libxml2 nodes, through lxml's public struct) into RxFill
    # records without a Python object per element: src/riskscore/adapters/lxml/reading.py.
    Extension(
        "riskscore.adapters.lxml._fastread",
        sources=["src/riskscore/adapters/lxml/_fastread.c"],
        include_dirs=lxml.get_include(),
        extra_compile_args=["-O2"],
        optional=True,
    ),
    # TreeEnsembleModel.predict_arrays for batches, a loop per row instead of numpy temporaries,
    # the same bits: src/riskscore/adapters/treemodel/compiled.py. No fused or reordered floating
    # point (-ffp-contract=off): the sums must add in the numpy path's order.
    Extension(
        "riskscore.adapters.treemodel._treekernel",
        sources=["src/riskscore/adapters/treemodel/_treekernel.c"],
        extra_compile_args=["-O2", "-ffp-contract=off"],
        optional=True,
    ),
    # Output lines of a scored batch copied together from msgspec-encoded columns, no object per
    # piece: src/riskscore/adapters/batch/columnar.py.
    Extension(
        "riskscore.adapters.batch._lines",
        sources=["src/riskscore/adapters/batch/_lines.c"],
        extra_compile_args=["-O2"],
        optional=True,
    ),
    # A page of stored feature vectors stepped row by row through SQLite's C API (the library
    # Python's sqlite3 runs on), each vector copied once into the matrix: a rescoring worker's
    # read, src/riskscore/adapters/sqlite/feature_store.py. Needs no SQLite header.
    Extension(
        "riskscore.adapters.sqlite._pageread",
        sources=["src/riskscore/adapters/sqlite/_pageread.c"],
        extra_compile_args=["-O2"],
        optional=True,
    ),
    # SHA-256 of a batch of rows in one call on the CPU's SHA extensions: the feature hashes and
    # derived prediction ids of batch rescoring (src/riskscore/domain/digests.py).
    Extension(
        "riskscore.domain._digests",
        sources=["src/riskscore/domain/_digests.c"],
        extra_compile_args=["-O2"],
        optional=True,
    ),
]

setup(ext_modules=[] if os.environ.get("PURE_PYTHON_BUILD") == "1" else EXTENSIONS)
