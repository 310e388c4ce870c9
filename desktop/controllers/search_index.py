"""Which rows of the list *can* hold what was typed: a small signature per row, checked for all
rows at once.

Every row's search key gets 320 bits: 64 that say which bytes its UTF-8 text holds (a–z and
0–9 each have their own bit, other bytes share the rest) and 256 that say which pairs of
adjacent bytes it holds (hashed). A row can contain a typed word only if it has every bit the
word has, so one pass of bit tests over five arrays narrows a million rows to the few that
may match, and only those few keys are then searched for the word itself. The bits never
miss a match (a word's bytes and byte pairs are all in any text that contains it); they may
let through a row that does not match, which the real search then drops.

Built with numpy a block of rows at a time, on the thread that reads the list: about a second
for a million rows, 40 bytes a row. Keys changed later are not in the signatures; the roster
checks those rows directly (``Roster._dirty``) until the index is built again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from desktop.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", __name__, "np")  # the window paints first (desktop/lazy.py)

BLOCK_ROWS = 8_192
SEPARATOR = 0x1F  # between keys (queries.SEPARATOR); no typed word holds a control character


def _unigram_bits() -> np.ndarray:
    bits = np.zeros(256, dtype=np.uint64)
    for byte in range(256):
        if ord("a") <= byte <= ord("z"):
            bit = byte - ord("a")
        elif ord("0") <= byte <= ord("9"):
            bit = 26 + byte - ord("0")
        else:
            bit = 36 + (byte * 7) % 28
        bits[byte] = np.uint64(1) << np.uint64(bit)
    bits[SEPARATOR] = 0
    return bits


def _bigram_bits() -> np.ndarray:
    """A bit (0–255) for every pair of bytes, from a multiplicative hash of the pair."""
    pairs = np.arange(65_536, dtype=np.uint64)
    mixed = (pairs * np.uint64(2_654_435_761)) & np.uint64(0xFFFF_FFFF)
    return (mixed >> np.uint64(24)).astype(np.uint8)


def _bigram_words(bigram: np.ndarray) -> np.ndarray:
    """For each of the four 64-bit words, each pair's contribution to it (0 if its bit is in
    another word, or if the pair crosses from one key to the next)."""
    pairs = np.arange(65_536)
    crossing = ((pairs >> 8) == SEPARATOR) | ((pairs & 0xFF) == SEPARATOR)
    words = np.zeros((4, 65_536), dtype=np.uint64)
    for w in range(4):
        inside = ((bigram >> 6) == w) & ~crossing
        words[w, inside] = np.uint64(1) << (bigram[inside] & 63).astype(np.uint64)
    return words


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unigram bits, the bigram bits and the bigram words, made when first needed."""
    bigram = _bigram_bits()
    return _unigram_bits(), bigram, _bigram_words(bigram)


def _signatures(text: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of the keys in ``text`` (UTF-8, each key followed by SEPARATOR), the keys
    starting at ``starts``: (unigram words, bigram words shaped (4, len(starts)))."""
    unigram, _bigram, bigram_words = _tables()
    uni = np.bitwise_or.reduceat(unigram[text], starts)
    codes = np.empty(len(text), dtype=np.uint16)
    np.left_shift(text[:-1], 8, out=codes[:-1], dtype=np.uint16)
    codes[:-1] |= text[1:]
    codes[-1] = (SEPARATOR << 8) | SEPARATOR
    bi = np.empty((4, len(starts)), dtype=np.uint64)
    for w in range(4):
        bi[w] = np.bitwise_or.reduceat(bigram_words[w][codes], starts)
    return uni, bi


def _separator_positions(text: np.ndarray, piece: int = 1 << 24) -> np.ndarray:
    """Where SEPARATOR is in ``text``, a piece at a time (a mask of all of it at once would
    be as large as the text)."""
    found = [np.flatnonzero(text[start:start + piece] == SEPARATOR) + start
             for start in range(0, len(text), piece)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def word_bits(words: Iterable[str]) -> tuple[int, list[int]]:
    """The bits every row holding all of ``words`` has: (unigram mask, four bigram masks)."""
    unigram, bigram, _words = _tables()
    uni, bi = 0, [0, 0, 0, 0]
    for word in words:
        data = word.encode("utf-8", "surrogatepass")
        for byte in data:
            uni |= int(unigram[byte])
        for a, b in zip(data, data[1:]):
            bit = int(bigram[(a << 8) | b])
            bi[bit >> 6] |= 1 << (bit & 63)
    return uni, bi


class SearchIndex:
    """Signatures of the first ``len(self)`` slots' keys, as they were when built."""

    def __init__(self, uni: np.ndarray, bi: np.ndarray) -> None:
        self.uni = uni
        self.bi = bi

    @classmethod
    def build(cls, keys: Sequence[str]) -> SearchIndex:
        """The index of ``keys`` (slot order)."""
        if not keys:
            return cls(np.zeros(0, dtype=np.uint64), np.zeros((4, 0), dtype=np.uint64))
        separator = bytes([SEPARATOR])
        # A key holding the separator (none should) gets a space in its place: the bits it
        # then has are a superset, which only lets the row through to the real check.
        text = separator.join(k.encode("utf-8", "surrogatepass") for k in keys) + separator
        if text.count(separator) != len(keys):
            text = separator.join(k.replace(chr(SEPARATOR), " ").encode("utf-8", "surrogatepass")
                                  for k in keys) + separator
        return cls.from_joined(text, len(keys))

    @classmethod
    def from_joined(cls, joined: bytes, n: int) -> SearchIndex:
        """The index of ``n`` keys given as their UTF-8 text, each followed by SEPARATOR but
        perhaps the last (none of them holding it), built a block of rows at a time to keep
        the work arrays small."""
        if n == 0:
            return cls.build([])
        text = np.frombuffer(joined, dtype=np.uint8)
        ends = _separator_positions(text)
        if len(ends) == n - 1:
            ends = np.append(ends, len(text))  # the last key ends with the text
        if len(ends) != n or ends[-1] < len(text) - 1:  # (or text after the last key)
            raise ValueError("a key holds the separator")
        starts = np.empty(n, dtype=np.int64)
        starts[:1] = 0
        starts[1:] = ends[:-1] + 1
        uni = np.empty(n, dtype=np.uint64)
        bi = np.empty((4, n), dtype=np.uint64)
        for first in range(0, n, BLOCK_ROWS):
            last = min(first + BLOCK_ROWS, n)
            low, high = starts[first], ends[last - 1] + 1
            block = text[low:high]
            if high > len(text):  # the last key had no separator after it: give it one
                block = np.append(block, np.uint8(SEPARATOR))
            uni[first:last], bi[:, first:last] = _signatures(block, starts[first:last] - low)
        return cls(uni, bi)

    def __len__(self) -> int:
        return len(self.uni)

    @property
    def nbytes(self) -> int:
        return int(self.uni.nbytes + self.bi.nbytes)

    def candidates(self, words: Iterable[str]) -> np.ndarray:
        """A mask over the indexed slots: True where a row may hold every word."""
        uni, bi = word_bits(words)
        mask = (self.uni & np.uint64(uni)) == np.uint64(uni)
        for w in range(4):
            if bi[w]:
                want = np.uint64(bi[w])
                mask &= (self.bi[w] & want) == want
        return mask
