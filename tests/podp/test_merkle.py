"""Merkle trees against OpenZeppelin's own JavaScript library and MerkleProof on chain."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dalrn_core.errors import InputError
from dalrn_core.podp.merkle import merkle_proof, merkle_root, verify_proof

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
OZ_SCRIPT = """
const { SimpleMerkleTree } = require('@openzeppelin/merkle-tree');
const sets = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = sets.map((leaves) => {
  const tree = SimpleMerkleTree.of(leaves);
  return { root: tree.root, proofs: leaves.map((_, i) => tree.getProof(i)) };
});
console.log(JSON.stringify(out));
"""


def _leaves(n: int, seed: int) -> list[bytes]:
    return [bytes((seed * 31 + i * 7 + j) % 256 for j in range(32)) if i % 3 else os.urandom(32)
            for i in range(n)]


@pytest.mark.skipif(not (CONTRACTS / "node_modules" / "@openzeppelin" / "merkle-tree").exists()
                    or shutil.which("node") is None, reason="run `make contracts` (npm) first")
def test_matches_openzeppelin_simple_merkle_tree():
    sets = [_leaves(n, n) for n in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33]]
    sets.append([b"\x11" * 32, b"\x11" * 32, b"\x22" * 32])  # duplicate leaves
    payload = json.dumps([["0x" + leaf.hex() for leaf in s] for s in sets])
    result = subprocess.run(["node", "-e", OZ_SCRIPT], input=payload, capture_output=True,
                            text=True, cwd=CONTRACTS, check=True, timeout=60)
    for leaves, expected in zip(sets, json.loads(result.stdout)):
        assert "0x" + merkle_root(leaves).hex() == expected["root"]
        for i in range(len(leaves)):
            assert ["0x" + p.hex() for p in merkle_proof(leaves, i)] == expected["proofs"][i]


def test_every_proof_verifies_and_tampering_fails():
    leaves = _leaves(13, 5)
    root = merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle_proof(leaves, i)
        assert verify_proof(leaf, proof, root)
        flipped = bytes([leaf[0] ^ 1]) + leaf[1:]
        assert not verify_proof(flipped, proof, root)
        if proof:
            assert not verify_proof(leaf, proof[:-1], root)


def test_root_is_independent_of_leaf_order():
    leaves = _leaves(9, 2)
    assert merkle_root(leaves) == merkle_root(list(reversed(leaves)))


def test_single_leaf_is_its_own_root():
    leaf = b"\x07" * 32
    assert merkle_root([leaf]) == leaf and merkle_proof([leaf], 0) == []


@pytest.mark.parametrize("leaves,field", [([], "leaves"), ([b"short"], "leaves[0]")])
def test_bad_leaves(leaves, field):
    with pytest.raises(InputError, match=field.replace("[", r"\[")):
        merkle_root(leaves)
