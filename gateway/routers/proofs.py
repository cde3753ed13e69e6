"""The public proof of an anchored dispute and the operator's receipt-signing keys.

Both answer without a token, so anyone a party hands a proof id to can check that the
dispute's receipt chain was anchored, on a machine that holds no key of the operator.
A proof carries hashes only: the receipt CIDs in order, the anchored leaf, its Merkle
proof, the root and the chain transaction. Receipts themselves (which name the settlement)
stay behind the authenticated API; a party that holds them checks their signatures and
links against the same proof.

The keys are every receipt-signing key still valid for verification (`gateway.receipt_keys`):
the one signing now and those retired by a rotation, so a proof signed before a rotation
still verifies; a revoked key is left out.

The proof id is the CID of the anchored head receipt: unguessable, so a public URL never
reveals whether some tenant has a dispute of some name.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from dalrn_core.config import sub_dir
from dalrn_core.dispute.records import STATUS_ANCHORED
from dalrn_core.errors import InputError
from dalrn_core.evidence.cid import parse_cid
from gateway.deps import DB
from gateway.errors import ApiError, api_error, responses

PROOF_VERSION = "dalrn.proof/1"
KEYS_VERSION = "dalrn.receipt-keys/1"
KEYS_PATH = "/.well-known/dalrn-receipt-keys.json"

router = APIRouter(tags=["proofs"])


def _anchored_records() -> list[dict]:
    """Every anchored dispute record in the data folder (the embedded scale: one file per chain).

    The audit log's head rides in the same batches; its proof is `dalrn audit verify`'s, not a dispute's.
    """
    from gateway.audit import AUDIT_CHAIN

    out = []
    for path in sorted(Path(sub_dir("disputes")).glob("*/record.json")):
        if path.parent.name == AUDIT_CHAIN:
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("status") == STATUS_ANCHORED and record.get("anchor"):
            out.append(record)
    return out


def public_proof(record: dict) -> dict:
    """The hash-only proof of an anchored record (no receipt body, no dispute id)."""
    anchor = record["anchor"]
    cids = record.get("receipts", [])
    leaf_cid = anchor["leaf_receipt_cid"]
    return {
        "version": PROOF_VERSION,
        "proof_id": leaf_cid,
        # The chain up to the anchored head: later receipts belong to a later batch.
        "receipts": cids[: cids.index(leaf_cid) + 1] if leaf_cid in cids else [],
        "leaf_receipt_cid": leaf_cid,
        "leaf": anchor["leaf"],
        "proof": anchor["proof"],
        "root": anchor["root"],
        "tree": "openzeppelin-simple-merkle-tree (sorted leaves, sorted pairs, keccak256)",
        "chain": {
            "chain_id": anchor.get("chain_id"),
            "contract": anchor.get("contract"),
            "tx_hash": anchor.get("tx_hash"),
            "block_number": anchor.get("block_number"),
            "block_hash": anchor.get("block_hash"),
        },
        "signer_keys": KEYS_PATH,
    }


def find_proof(proof_id: str) -> dict | None:
    """The public proof whose anchored head receipt has CID `proof_id`, or None."""
    for record in _anchored_records():
        if record["anchor"].get("leaf_receipt_cid") == proof_id:
            return public_proof(record)
    return None


def proof_id_of(chain: str) -> str | None:
    """The proof id of an anchored receipt chain, for the tenant's own answers."""
    from dalrn_core.dispute.records import record_path

    path = record_path(chain)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    anchor = record.get("anchor") or {}
    return anchor.get("leaf_receipt_cid") if record.get("status") == STATUS_ANCHORED else None


class ReceiptKeyOut(BaseModel):
    kid: str = Field(description="first 16 hex digits of the public key")
    alg: Literal["Ed25519"]
    public_key: str = Field(description="raw Ed25519 public key, hex")
    status: Literal["active", "retired"] = Field(
        description="active: signs receipts now; retired: signs nothing new, what it signed still verifies")
    first_seen_at: datetime
    retired_at: datetime | None


class ReceiptKeysOut(BaseModel):
    version: Literal["dalrn.receipt-keys/1"]
    keys: list[ReceiptKeyOut]


def receipt_keys(session: Session) -> dict:
    """The operator's receipt-signing public keys still valid for verification (revoked ones left out)."""
    from gateway import receipt_keys as registry

    return {"version": KEYS_VERSION, "keys": registry.published(session)}


def _not_found(proof_id: str) -> ApiError:
    return api_error(404, "proof.not_found", f"no anchored proof {proof_id}", "proof_id")


@router.get("/v1/proofs/{proof_id}", summary="Public proof of an anchored dispute (no token)",
            responses=responses(404))
def get_proof(proof_id: str) -> dict:
    try:
        parse_cid(proof_id, field="proof_id")
    except InputError:
        raise _not_found(proof_id) from None
    proof = find_proof(proof_id)
    if proof is None:
        raise _not_found(proof_id)
    return proof


@router.get(KEYS_PATH, response_model=ReceiptKeysOut,
            summary="The operator's receipt-signing public keys, current and retired (no token)")
def get_receipt_keys(db: DB) -> dict:
    return receipt_keys(db)
