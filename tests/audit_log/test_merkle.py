"""Merkle proofs against RFC 6962 written out here, and probes that every mangled proof fails.

The reference below follows RFC 6962 section 2.1 literally (recursive MTH, PATH,
PROOF/SUBPROOF over the leaf data), sharing nothing with `audit_log.merkle`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from audit_log.merkle import (
    Frontier,
    consistency_proof,
    get_suite,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

SUITE = get_suite("sha256")
DATA = [f"leaf {i}".encode() for i in range(40)]


def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def nodes_of(d: list[bytes]) -> Callable[[int, int], bytes]:
    """Perfect subtrees from the reference, as the log's store would hand them out."""
    return lambda level, index: mth(d[index << level : (index + 1) << level])


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + DATA[i]).digest()


SIZES = range(1, 34)


@pytest.mark.parametrize("size", SIZES)
def test_roots_and_inclusion_proofs_match_the_rfc(size: int) -> None:
    d = DATA[:size]
    frontier = Frontier(SUITE)
    for i in range(size):
        frontier.push(leaf(i))
    assert frontier.root() == mth(d)
    for m in range(size):
        ours = inclusion_proof(SUITE, nodes_of(d), m, size)
        assert ours == path(m, d), (m, size)
        assert verify_inclusion(SUITE, m, size, leaf(m), ours, mth(d))


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proofs_match_the_rfc(size: int) -> None:
    d = DATA[:size]
    for m in range(1, size + 1):
        ours = consistency_proof(SUITE, nodes_of(d), m, size)
        assert ours == proof(m, d), (m, size)
        assert verify_consistency(SUITE, m, size, mth(d[:m]), mth(d), ours)


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert Frontier(SUITE).root() == mth([])


def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def _flip_in(p: list[bytes], i: int) -> list[bytes]:
    return p[:i] + [_flip(p[i])] + p[i + 1 :]


# (index, size, leaf, proof, root) -> the mangled tuple; each must fail verification
InclusionCase = tuple[int, int, bytes, list[bytes], bytes]
INCLUSION_PROBES: dict[str, Callable[[InclusionCase], InclusionCase]] = {
    "flip a bit in the first hash": lambda c: (c[0], c[1], c[2], _flip_in(c[3], 0), c[4]),
    "flip a bit in the last hash": lambda c: (c[0], c[1], c[2], _flip_in(c[3], -1), c[4]),
    "wrong leaf": lambda c: (c[0], c[1], _flip(c[2], 3), c[3], c[4]),
    "wrong index (+1)": lambda c: (c[0] + 1, c[1], c[2], c[3], c[4]),
    "wrong index (-1)": lambda c: (c[0] - 1, c[1], c[2], c[3], c[4]),
    "index past the end": lambda c: (c[1], c[1], c[2], c[3], c[4]),
    # a size whose tree puts the leaf on a path of another shape (a size of the same
    # shape proves nothing else: sizes and roots come together in a signed head)
    "wrong size (doubled)": lambda c: (c[0], c[1] * 2, c[2], c[3], c[4]),
    "wrong size (halved)": lambda c: (c[0], c[1] // 2, c[2], c[3], c[4]),
    "truncated proof": lambda c: (c[0], c[1], c[2], c[3][:-1], c[4]),
    "padded proof": lambda c: (c[0], c[1], c[2], c[3] + [c[4]], c[4]),
    "short hash": lambda c: (c[0], c[1], c[2], [c[3][0][:31]] + c[3][1:], c[4]),
    "reordered proof": lambda c: (c[0], c[1], c[2], c[3][::-1], c[4]),
    "another tree's root": lambda c: (c[0], c[1], c[2], c[3], mth(DATA[: c[1] + 1])),
    "leaf given as the root": lambda c: (c[0], c[1], c[2], c[3], c[2]),
}
INCLUSION_AT = [(2, 7), (5, 8), (6, 7), (12, 13), (0, 33), (31, 32)]


@pytest.mark.parametrize("probe", INCLUSION_PROBES, ids=list(INCLUSION_PROBES))
@pytest.mark.parametrize(
    ("index", "size"), INCLUSION_AT, ids=[f"{m}of{n}" for m, n in INCLUSION_AT]
)
def test_mangled_inclusion_proofs_fail(probe: str, index: int, size: int) -> None:
    d = DATA[:size]
    good: InclusionCase = (index, size, leaf(index), path(index, d), mth(d))
    assert verify_inclusion(SUITE, *good)
    mangled = INCLUSION_PROBES[probe](good)
    if mangled[3] == good[3] and probe.startswith("reordered"):
        pytest.skip("a proof of one hash reads the same reversed")
    assert not verify_inclusion(SUITE, *mangled)


# (old, new, old_root, new_root, proof) -> mangled; each must fail
ConsistencyCase = tuple[int, int, bytes, bytes, list[bytes]]
CONSISTENCY_PROBES: dict[str, Callable[[ConsistencyCase], ConsistencyCase]] = {
    "flip a bit in the first hash": lambda c: (c[0], c[1], c[2], c[3], _flip_in(c[4], 0)),
    "flip a bit in the last hash": lambda c: (c[0], c[1], c[2], c[3], _flip_in(c[4], -1)),
    "wrong old size (+1)": lambda c: (c[0] + 1, c[1], c[2], c[3], c[4]),
    "wrong old size (-1)": lambda c: (c[0] - 1, c[1], c[2], c[3], c[4]),
    "wrong new size (doubled)": lambda c: (c[0], c[1] * 2, c[2], c[3], c[4]),
    "truncated proof": lambda c: (c[0], c[1], c[2], c[3], c[4][:-1]),
    "padded proof": lambda c: (c[0], c[1], c[2], c[3], c[4] + [c[3]]),
    "empty proof": lambda c: (c[0], c[1], c[2], c[3], []),
    "swapped roots": lambda c: (c[0], c[1], c[3], c[2], c[4]),
    "wrong old root": lambda c: (c[0], c[1], _flip(c[2]), c[3], c[4]),
    "wrong new root": lambda c: (c[0], c[1], c[2], _flip(c[3]), c[4]),
    "sizes swapped": lambda c: (c[1], c[0], c[3], c[2], c[4]),
}
CONSISTENCY_AT = [(3, 7), (4, 8), (6, 8), (5, 13), (1, 33), (16, 33), (31, 32)]


@pytest.mark.parametrize("probe", CONSISTENCY_PROBES, ids=list(CONSISTENCY_PROBES))
@pytest.mark.parametrize(
    ("old", "new"), CONSISTENCY_AT, ids=[f"{m}to{n}" for m, n in CONSISTENCY_AT]
)
def test_mangled_consistency_proofs_fail(probe: str, old: int, new: int) -> None:
    d = DATA[:new]
    good: ConsistencyCase = (old, new, mth(d[:old]), mth(d), proof(old, d))
    assert verify_consistency(SUITE, *good)
    assert not verify_consistency(SUITE, *CONSISTENCY_PROBES[probe](good))


def test_same_size_consistency_needs_equal_roots_and_no_proof() -> None:
    root = mth(DATA[:5])
    assert verify_consistency(SUITE, 5, 5, root, root, [])
    assert not verify_consistency(SUITE, 5, 5, root, _flip(root), [])
    assert not verify_consistency(SUITE, 5, 5, root, root, [root])
