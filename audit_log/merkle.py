"""Merkle tree arithmetic after RFC 6962/9162: hash suites, roots, proofs and their checks.

Pure functions over hashes. The log stores every complete subtree's hash, so a
proof asks a `NodeSource` for perfect subtrees only (level, index) and never
rereads the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

HASH_SIZE = 32

#: the hash of (level, index): the root of leaves [index * 2**level, (index + 1) * 2**level)
NodeSource = Callable[[int, int], bytes]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


@dataclass(frozen=True)
class HashSuite:
    """A named hash function with RFC 6962's domain separation of leaves and nodes."""

    name: str
    digest: Callable[[bytes], bytes]

    def leaf(self, data: bytes) -> bytes:
        return self.digest(b"\x00" + data)

    def node(self, left: bytes, right: bytes) -> bytes:
        return self.digest(b"\x01" + left + right)

    def empty_root(self) -> bytes:
        return self.digest(b"")


SUITES: dict[str, HashSuite] = {
    "sha256": HashSuite("sha256", _sha256),
    "sm3": HashSuite("sm3", _sm3),
}


def get_suite(name: str) -> HashSuite:
    suite = SUITES.get(name.lower())
    if suite is None:
        raise ValueError(f"unknown hash suite {name!r}; use one of {', '.join(SUITES)}")
    return suite


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1), where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The roots of the perfect subtrees covering the leaves so far (a compact range).

    `push` returns the leaf hash followed by every subtree hash the leaf completes,
    lowest level first: exactly the nodes the log stores beside the entry.
    """

    def __init__(self, suite: HashSuite, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError("a frontier needs one hash per set bit of its size")
        self.suite = suite
        self.size = size
        self.nodes = list(nodes)  # highest level first

    def push(self, leaf: bytes) -> list[bytes]:
        completed = [leaf]
        node, index = leaf, self.size
        while index & 1:
            node = self.suite.node(self.nodes.pop(), node)
            completed.append(node)
            index >>= 1
        self.nodes.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.nodes:
            return self.suite.empty_root()
        node = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            node = self.suite.node(left, node)
        return node


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """(level, index) of each frontier subtree of a tree of `size` leaves, highest first."""
    return [
        (level, (size >> level) - 1)
        for level in range(size.bit_length() - 1, -1, -1)
        if size >> level & 1
    ]


def root_of(suite: HashSuite, leaves: Iterable[bytes]) -> bytes:
    frontier = Frontier(suite)
    for leaf in leaves:
        frontier.push(leaf)
    return frontier.root()


def _range_root(suite: HashSuite, node: NodeSource, start: int, end: int) -> bytes:
    """MTH of leaves [start, end): a right fold of the perfect subtrees that tile it.

    Every range RFC 6962's recursion asks for starts at a multiple of a power of two
    at least as large as the range, so the tiles are aligned subtrees the log keeps.
    """
    tiles: list[bytes] = []
    position, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        tiles.append(node(level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    result = tiles[-1]
    for left in reversed(tiles[:-1]):
        result = suite.node(left, result)
    return result


def inclusion_proof(suite: HashSuite, node: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index - start < k:
            proof.append(_range_root(suite, node, start + k, end))
            end = start + k
        else:
            proof.append(_range_root(suite, node, start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(suite: HashSuite, node: NodeSource, old: int, new: int) -> list[bytes]:
    """RFC 6962 PROOF(old, D[0:new]): the tree of `old` leaves is a prefix of `new`."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}; need 0 < M <= N")
    proof: list[bytes] = []
    start, end, m, complete = 0, new, old, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(_range_root(suite, node, start + k, end))
            end = start + k
        else:
            proof.append(_range_root(suite, node, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(_range_root(suite, node, start, end))
    proof.reverse()
    return proof


def needed_nodes(prover: Callable[[NodeSource], object]) -> set[tuple[int, int]]:
    """The (level, index) pairs a proof will read: the shape of a proof never depends on hashes."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(HASH_SIZE)

    prover(record)
    return wanted


def verify_inclusion(
    suite: HashSuite, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = suite.node(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = suite.node(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(
    suite: HashSuite, old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old <= new or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old == new:
        return not proof and old_root == new_root
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = suite.node(sibling, first)
            second = suite.node(sibling, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = suite.node(second, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == new_root
