"""A column of strings kept as one UTF-8 text with offsets, for the list's unique values.

A million emails as Python strings take about 100 MB (a 49-byte object each, plus the
list's pointer); joined, they take their text and 9 bytes of offset and mark each, about
a third. A value becomes a string only when asked for (the rows on screen), and searching
the column (``holding``) runs ``bytes.find`` over the joined text without making any.
Values set or added after the column was made are kept apart (``_changed``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from operator import contains
from typing import TYPE_CHECKING

from desktop.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", __name__, "np")  # the window paints first (desktop/lazy.py)

SEPARATOR = "\x1f"  # after every value in the joined text
PIECE = 32_768  # rows handled by one call in C (which holds the interpreter meanwhile)
_SEP = SEPARATOR.encode("ascii")


class TextColumn(Sequence[str]):
    """``len(values)`` strings, read by index; set and append as a list's."""

    _changed: dict[int, str]
    _plain: bool | None  # ``_plain_ascii``, once asked

    def __init__(self, values: Sequence[str] = ()) -> None:
        if not values:  # (a list not read yet: no arrays, and numpy not imported, until asked)
            self._data, self._stored, self._n = b"", 0, 0
            self._changed = {}
            self._plain = None
            return
        encoded = [v.encode("utf-8", "surrogatepass") for v in values]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)) + 1
        data = _SEP.join(encoded) + _SEP if encoded else b""
        del encoded
        starts = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        self._setup(data, starts)

    @classmethod
    def joined(cls, text: str, n: int) -> TextColumn | None:
        """The column of the ``n`` values joined by SEPARATOR in ``text`` (None if it holds
        another number of them: a value held the separator)."""
        data = text.encode("utf-8", "surrogatepass") + _SEP if n else b""
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _SEP[0])
        if len(ends) != n:
            return None
        starts = np.zeros(n + 1, dtype=np.int64)
        starts[1:] = ends + 1
        column = cls.__new__(cls)
        column._setup(data, starts)
        return column

    def _setup(self, data: bytes, starts: np.ndarray) -> None:
        self._data = data
        self._starts = starts  # value i is data[starts[i]:starts[i + 1] - 1]
        self._stored = len(starts) - 1
        self._n = self._stored
        self._changed = {}
        self._is_changed = np.zeros(self._stored, dtype=bool)
        self._plain = None

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        if name in ("_starts", "_is_changed") and "_starts" not in self.__dict__:
            # An empty column's, made when first used (both at once: another thread may ask).
            made = {"_is_changed": np.zeros(0, dtype=bool), "_starts": np.zeros(1, dtype=np.int64)}
            self.__dict__.update(made)
            return made[name]
        raise AttributeError(name)

    def joined_bytes(self) -> bytes | None:
        """The values as stored: UTF-8, each followed by SEPARATOR; None once one was set or added."""
        return self._data if not self._changed and self._n == self._stored else None

    def _plain_ascii(self) -> bool:
        """Whether the joined text is all ASCII with no value holding the separator: asked of
        numpy, which leaves the interpreter free meanwhile (``bytes.isascii`` and ``count``
        over a million values would hold it for tens of milliseconds)."""
        if self._plain is None:
            raw = np.frombuffer(self._data, dtype=np.uint8)
            self._plain = bool(len(raw) == 0 or raw.max() < 0x80) \
                and int(np.count_nonzero(raw == _SEP[0])) == self._stored
        return self._plain

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):  # type: ignore[no-untyped-def,override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        index = int(index)
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("TextColumn index out of range")
        if self._changed:
            changed = self._changed.get(index)
            if changed is not None:
                return changed
        starts = self._starts
        return self._data[starts[index]:starts[index + 1] - 1].decode("utf-8", "surrogatepass")

    def __setitem__(self, index: int, value: str) -> None:  # type: ignore[override]
        index = int(index)
        if not 0 <= index < self._n:
            raise IndexError("TextColumn index out of range")
        self._changed[index] = value
        if index < self._stored:
            self._is_changed[index] = True

    def append(self, value: str) -> None:
        self._changed[self._n] = value
        self._n += 1

    def __iter__(self) -> Iterator[str]:
        for i in range(self._n):
            yield self[i]

    def __add__(self, other: Sequence[str]) -> list[str]:
        return list(self) + list(other)

    @property
    def nbytes(self) -> int:
        return len(self._data) + self._starts.nbytes + self._is_changed.nbytes + 100 * len(self._changed)

    def casefolded(self, n: int | None = None) -> list[bytes]:
        """The first ``n`` values (all if None) case-folded, as UTF-8: at C speed when the text
        is all ASCII (whose case folding is ``bytes.lower``), else value by value. Safe on
        another thread while values are set or added (what changed is read in one step)."""
        n = self._n if n is None else min(n, self._n)
        stored = min(n, self._stored)
        if self._plain_ascii():  # (and no value holds the separator)
            # A piece of rows at a time: one call over all of them would hold the interpreter.
            folded: list[bytes] = []
            starts = self._starts
            for first in range(0, stored, PIECE):
                last = min(first + PIECE, stored)
                folded += self._data[starts[first]:starts[last] - 1].lower().split(_SEP)
        else:
            folded = [self._stored_value(i).casefold().encode("utf-8", "surrogatepass") for i in range(stored)]
        folded += [b""] * (n - stored)
        for index, value in list(self._changed.items()):
            if index < n:
                folded[index] = value.casefold().encode("utf-8", "surrogatepass")
        return folded

    def _stored_value(self, index: int) -> str:
        starts = self._starts
        return self._data[starts[index]:starts[index + 1] - 1].decode("utf-8", "surrogatepass")

    def holding(self, slots: list[int], word: str) -> list[int]:
        """Those of ``slots`` whose value holds ``word``, in their order (a loop in C over the
        joined text; values changed since are checked as strings)."""
        if not slots:
            return slots
        at = np.asarray(slots, dtype=np.int64)
        stored = self._stored
        inside = np.minimum(at, stored - 1) if stored else at
        needle = word.encode("utf-8", "surrogatepass")
        if stored:
            begin, end = self._starts[inside].tolist(), (self._starts[inside + 1] - 1).tolist()
            hits = list(map((-1).__lt__, map(self._data.find, repeat(needle), begin, end)))
        else:
            hits = [False] * len(slots)
        if self._changed:
            later = at >= stored
            later[~later] = self._is_changed[at[~later]]
            for position in np.flatnonzero(later).tolist():
                hits[position] = word in self._changed.get(slots[position], "")
        return list(compress(slots, hits))


def holding(values: Sequence[str], slots: list[int], word: str) -> list[int]:
    """Those of ``slots`` whose value in ``values`` holds ``word``."""
    if isinstance(values, TextColumn):
        return values.holding(slots, word)
    return list(compress(slots, map(contains, map(values.__getitem__, slots), repeat(word))))
