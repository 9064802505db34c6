"""Synthetic MIB and Rx evidence with outcome labels, from a documented latent-risk model.

See docs/synthetic-data.md for the model, its coefficients, the document variants and the layout.
"""

from riskscore.adapters.synthetic.dataset import (
    DatasetError,
    Manifest,
    generate,
    read_dataset,
    write_dataset,
)
from riskscore.adapters.synthetic.simulate import (
    DEFAULT_AS_OF,
    GENERATOR_VERSION,
    SyntheticApplication,
    policy_number,
)

__all__ = [
    "DEFAULT_AS_OF",
    "GENERATOR_VERSION",
    "DatasetError",
    "Manifest",
    "SyntheticApplication",
    "generate",
    "policy_number",
    "read_dataset",
    "write_dataset",
]
