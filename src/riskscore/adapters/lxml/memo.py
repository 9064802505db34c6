"""A bounded memo for the parser's hot paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


class Memo(dict[str, _T]):
    """``memo[text]`` is ``read(text)``, remembered for texts of at most ``max_chars`` characters.

    The parser sees the same few element names and field values over and over (``DrugGenericName``,
    ``30``, ``500 MG``); a hit is a plain dict lookup done in C where ``read`` would cost a Python
    call. Memory stays bounded whatever arrives: longer texts are read but not kept, and the memo is
    emptied when it holds ``limit`` entries (a flood of invented texts costs speed, never memory).
    Sharing one between threads is safe: each dict operation is atomic and every thread computes the
    same value for the same text.
    """

    def __init__(self, read: Callable[[str], _T], *, max_chars: int, limit: int = 4096) -> None:
        super().__init__()
        self._read = read
        self._max_chars = max_chars
        self._limit = limit

    def __missing__(self, text: str) -> _T:
        value = self._read(text)
        if len(text) <= self._max_chars:
            if len(self) >= self._limit:
                self.clear()
            self[text] = value
        return value
