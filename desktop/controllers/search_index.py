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

from collections.abc import Iterable, Sequence

import numpy as np

BLOCK_ROWS = 32_768
_SEPARATOR = 0x0A  # "\n" between keys; no typed word holds a control character (query_tokens)


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
    bits[_SEPARATOR] = 0
    return bits


def _bigram_bits() -> np.ndarray:
    """A bit (0–255) for every pair of bytes, from a multiplicative hash of the pair."""
    pairs = np.arange(65_536, dtype=np.uint64)
    mixed = (pairs * np.uint64(2_654_435_761)) & np.uint64(0xFFFF_FFFF)
    return (mixed >> np.uint64(24)).astype(np.uint8)


UNIGRAM = _unigram_bits()
BIGRAM = _bigram_bits()
_ONE = np.uint64(1)


def _block_signatures(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of ``keys``: (unigram words, bigram words shaped (4, len(keys)))."""
    encoded = [k.encode("utf-8", "surrogatepass") for k in keys]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)) + 1
    starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    text = np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)
    del encoded
    # Every segment [start, next start) holds its key and the separator, so it is never empty.
    uni = np.bitwise_or.reduceat(UNIGRAM[text], starts)
    first, second = text[:-1], text[1:]
    codes = (first.astype(np.uint16) << np.uint16(8)) | second
    bit = BIGRAM[codes]
    inside = (first != _SEPARATOR) & (second != _SEPARATOR)
    word = (bit >> np.uint8(6)).astype(np.uint8)
    value = np.where(inside, _ONE << (bit & np.uint8(63)).astype(np.uint64), np.uint64(0))
    value = np.append(value, np.uint64(0))  # the last separator has no pair after it
    bi = np.empty((4, len(keys)), dtype=np.uint64)
    for w in range(4):
        bi[w] = np.bitwise_or.reduceat(np.where(np.append(word, 0) == w, value, np.uint64(0)), starts)
    return uni, bi


def word_bits(words: Iterable[str]) -> tuple[int, list[int]]:
    """The bits every row holding all of ``words`` has: (unigram mask, four bigram masks)."""
    uni, bi = 0, [0, 0, 0, 0]
    for word in words:
        data = word.encode("utf-8", "surrogatepass")
        for byte in data:
            uni |= int(UNIGRAM[byte])
        for a, b in zip(data, data[1:]):
            bit = int(BIGRAM[(a << 8) | b])
            bi[bit >> 6] |= 1 << (bit & 63)
    return uni, bi


class SearchIndex:
    """Signatures of the first ``len(self)`` slots' keys, as they were when built."""

    def __init__(self, uni: np.ndarray, bi: np.ndarray) -> None:
        self.uni = uni
        self.bi = bi

    @classmethod
    def build(cls, keys: Sequence[str]) -> SearchIndex:
        n = len(keys)
        uni = np.empty(n, dtype=np.uint64)
        bi = np.empty((4, n), dtype=np.uint64)
        for start in range(0, n, BLOCK_ROWS):
            block = keys[start:start + BLOCK_ROWS]
            u, b = _block_signatures(block)
            uni[start:start + len(block)] = u
            bi[:, start:start + len(block)] = b
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
