"""Random decision trees for the tree-model tests (byte-wise leaves, the compiled kernel)."""

from __future__ import annotations

import math
import random

import numpy as np

from riskscore.adapters.treemodel.ensemble import RawTree

THRESHOLDS = [-1.0, 0.0, 0.5, 1.5, 3.0, math.inf, -math.inf]
VALUES = [0.0, -0.0, 0.25, -1.5, 1e-3, 7.0]


def random_tree(
    rng: random.Random, leaves: int, features: int, *, lopsided: float = 0.0, repeats: float = 0.0
) -> RawTree:
    """A tree of exactly ``leaves`` leaves split at random places on ``features`` columns. With
    chance ``lopsided`` a tree cuts off one leaf at every split (a deep chain); a node's value is
    one of a few repeated ``VALUES`` with chance ``repeats`` (equal children: zero path deltas)."""
    left, right, feature, threshold, missing_left, value, weight = [], [], [], [], [], [], []
    chain = rng.random() < lopsided

    def node(count: int) -> int:
        at = len(left)
        for column in (left, right, feature):
            column.append(-1)
        threshold.append(0.0)
        missing_left.append(rng.random() < 0.5)
        value.append(rng.choice(VALUES) if rng.random() < repeats else rng.gauss(0, 1))
        weight.append(float(rng.randint(1, 50)))
        if count > 1:
            feature[at] = rng.randrange(features)
            threshold[at] = rng.choice(THRESHOLDS)
            cut = rng.choice([1, count - 1]) if chain else rng.randint(1, count - 1)
            left[at] = node(cut)
            right[at] = node(count - cut)
        else:
            feature[at] = 0
        return at

    node(leaves)
    return RawTree(
        left=np.array(left),
        right=np.array(right),
        feature=np.array(feature),
        threshold=np.array(threshold),
        missing_left=np.array(missing_left),
        value=np.array(value),
        weight=np.array(weight),
    )
