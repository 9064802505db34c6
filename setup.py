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


def accelerator(module: str, *flags: str, **options: object) -> Extension:
    """An optional extension (a failed build installs without it) of one C file named after the
    module, at -O2 plus ``flags``."""
    source = "src/" + module.replace(".", "/") + ".c"
    return Extension(
        module,
        sources=[source],
        depends=["src/riskscore/adapters/_prefault.h"],
        extra_compile_args=["-O2", *flags],
        optional=True,
        **options,
    )


EXTENSIONS = [
    # Reads the Rx tree lxml has built (its libxml2 nodes, through lxml's public struct) into RxFill
    # records without a Python object per element: src/riskscore/adapters/lxml/reading.py.
    accelerator("riskscore.adapters.lxml._fastread", include_dirs=lxml.get_include()),
    # TreeEnsembleModel.predict_arrays for batches, a loop per row instead of numpy temporaries,
    # the same bits: src/riskscore/adapters/treemodel/compiled.py. No fused or reordered floating
    # point (-ffp-contract=off): the sums must add in the numpy path's order.
    accelerator("riskscore.adapters.treemodel._treekernel", "-ffp-contract=off"),
    # Output lines of a scored batch copied together from msgspec-encoded columns, no object per
    # piece: src/riskscore/adapters/batch/columnar.py.
    accelerator("riskscore.adapters.batch._lines"),
    # A page of stored feature vectors stepped row by row through SQLite's C API (the library
    # Python's sqlite3 runs on), each vector copied once into the matrix: a rescoring worker's
    # read, src/riskscore/adapters/sqlite/feature_store.py. Needs no SQLite header.
    accelerator("riskscore.adapters.sqlite._pageread"),
    # SHA-256 of a batch of rows in one call on the CPU's SHA extensions: the feature hashes and
    # derived prediction ids of batch rescoring (src/riskscore/domain/digests.py).
    accelerator("riskscore.domain._digests"),
]

setup(ext_modules=[] if os.environ.get("PURE_PYTHON_BUILD") == "1" else EXTENSIONS)
