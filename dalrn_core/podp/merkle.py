"""Merkle trees by OpenZeppelin's rules, so proofs verify with `MerkleProof` on chain.

The tree is the one `@openzeppelin/merkle-tree`'s `SimpleMerkleTree.of(leaves)` builds:
1. leaves are 32-byte values used as they are, sorted ascending (bytewise);
2. they fill the last n slots of a flat array of 2n - 1 nodes, in reverse order;
3. each inner node i is keccak256 of its two children (2i+1, 2i+2), the pair sorted first;
4. the root is node 0; a proof lists the siblings from the leaf up.
Sorted pairs make proofs order-free, which is what OpenZeppelin's `processProof` expects.
"""

from __future__ import annotations

from eth_utils.crypto import keccak

from dalrn_core.errors import InputError


def hash_pair(a: bytes, b: bytes) -> bytes:
    """keccak256 of the two nodes concatenated in ascending order."""
    return keccak(a + b) if a <= b else keccak(b + a)


def _check_leaves(leaves: list[bytes]) -> None:
    if not leaves:
        raise InputError.one("leaves", "a Merkle tree needs at least one leaf")
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, (bytes, bytearray)) or len(leaf) != 32:
            raise InputError.one(f"leaves[{i}]", "each leaf must be exactly 32 bytes")


def _tree(leaves: list[bytes]) -> tuple[list[bytes], list[int]]:
    """The flat node array and, for each input leaf, its index in that array."""
    _check_leaves(leaves)
    order = sorted(range(len(leaves)), key=lambda i: bytes(leaves[i]))
    size = 2 * len(leaves) - 1
    nodes: list[bytes] = [b""] * size
    position = [0] * len(leaves)
    for rank, original in enumerate(order):
        slot = size - 1 - rank
        nodes[slot] = bytes(leaves[original])
        position[original] = slot
    for i in range(size - 1 - len(leaves), -1, -1):
        nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
    return nodes, position


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root of the OpenZeppelin SimpleMerkleTree over 32-byte `leaves`."""
    return _tree(leaves)[0][0]


def merkle_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Sibling hashes from `leaves[index]` up to the root (index in the given order)."""
    if not 0 <= index < len(leaves):
        raise InputError.one("index", f"must be in 0..{len(leaves) - 1}")
    nodes, position = _tree(leaves)
    proof = []
    i = position[index]
    while i > 0:
        sibling = i + 1 if i % 2 == 1 else i - 1
        proof.append(nodes[sibling])
        i = (i - 1) // 2
    return proof


def process_proof(leaf: bytes, proof: list[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf` (OpenZeppelin's processProof)."""
    computed = bytes(leaf)
    for sibling in proof:
        computed = hash_pair(computed, bytes(sibling))
    return computed


def verify_proof(leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """Whether `proof` proves `leaf` is in the tree with `root`."""
    return process_proof(leaf, proof) == bytes(root)
