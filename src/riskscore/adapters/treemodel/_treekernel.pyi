# The module takes any C-contiguous buffer (no numpy C API); riskscore passes numpy arrays, which
# typeshed gives the buffer protocol only from Python 3.12 on, hence the arrays here.
from typing import Any

import numpy.typing as npt

_Array = npt.NDArray[Any]

class Kernel:
    """A tree ensemble's scoring arrays (copied); ``compiled.kernel_of`` builds one."""

    def __init__(
        self,
        node_feature: _Array,
        node_threshold: _Array,
        node_nan_right: _Array,
        node_left: _Array,
        node_right: _Array,
        roots: _Array,
        leaf_value: _Array,
        path_start: _Array,
        path_feature: _Array,
        neg_path_delta: _Array,
        n_features: int,
        baseline: float,
    ) -> None: ...
    def score(
        self,
        x: _Array,
        given: _Array,
        k: int,
        raw: _Array,
        probability: _Array,
        top: _Array,
        contribution: _Array,
        value: _Array,
    ) -> None: ...
