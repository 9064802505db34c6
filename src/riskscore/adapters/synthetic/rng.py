"""A reproducible random source for the synthetic generator.

Python documents only one reproducibility guarantee for ``random``: with an integer seed, ``random()``
returns the same sequence in every future version. ``choice``, ``gauss``, ``randrange`` and numpy's
distributions carry no such promise, so every draw here is derived from ``random()`` alone and a dataset
made today has the same bytes on tomorrow's interpreter.

Each application gets independent streams keyed by ``(seed, index, purpose)``: the latent person, the
drug plan, the fills, the MIB report, the document style and the label do not shift one another when
one of them changes.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


def stream_seed(seed: int, index: int, purpose: str) -> int:
    """A 64-bit integer seed that depends only on ``(seed, index, purpose)``."""
    digest = hashlib.blake2b(
        f"riskscore-synthetic|{seed}|{index}|{purpose}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


class Weighted(Generic[T]):
    """Items with relative weights, precomputed for repeated draws."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        if not pairs or any(w < 0 for _, w in pairs):
            raise ValueError("weights must be non-negative and non-empty")
        self._items = tuple(item for item, _ in pairs)
        self._cumulative = tuple(accumulate(w for _, w in pairs))
        self._total = self._cumulative[-1]
        if self._total <= 0:
            raise ValueError("weights must not all be zero")

    def pick(self, u: float) -> T:
        """The item at quantile ``u`` in ``[0, 1)``."""
        i = bisect_right(self._cumulative, u * self._total)
        return self._items[min(i, len(self._items) - 1)]


class Rng:
    """Draws built only on ``random.Random.random`` (see the module docstring)."""

    __slots__ = ("_random",)

    def __init__(self, seed: int, index: int, purpose: str) -> None:
        self._random = random.Random(stream_seed(seed, index, purpose)).random

    def random(self) -> float:
        return self._random()

    def chance(self, p: float) -> bool:
        return self._random() < p

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._random()

    def integer(self, low: int, high: int) -> int:
        """Uniform integer in ``[low, high]`` (both inclusive)."""
        return low + min(int(self._random() * (high - low + 1)), high - low)

    def choice(self, items: Sequence[T]) -> T:
        return items[min(int(self._random() * len(items)), len(items) - 1)]

    def weighted(self, table: Weighted[T]) -> T:
        return table.pick(self._random())

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """``k`` distinct items in draw order (partial Fisher-Yates)."""
        pool = list(items)
        k = min(k, len(pool))
        for i in range(k):
            j = i + min(int(self._random() * (len(pool) - i)), len(pool) - i - 1)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def normal(self, mean: float = 0.0, sd: float = 1.0) -> float:
        """Box-Muller; one value per call (the second is discarded for simplicity)."""
        u1 = 1.0 - self._random()  # (0, 1]: log is finite
        u2 = self._random()
        return mean + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def poisson(self, lam: float) -> int:
        """Knuth's multiplication method: exact, fine for the small means used here (< 30)."""
        if lam <= 0:
            return 0
        limit = math.exp(-lam)
        k = 0
        product = self._random()
        while product > limit:
            k += 1
            product *= self._random()
        return k

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self._random())
