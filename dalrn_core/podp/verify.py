"""Third-party verification of one receipt chain (a dispute's, a federated night's, a
rewiring run's): receipts, memo, Merkle proof, root on chain.

The checks run in this order and the first failure raises IntegrityError naming the
receipt chain, the object (receipt id and CID, output name, manifest CID, proof, root, chain)
and the rule broken:
1. each receipt's bytes match its CID; the chain's links, sequence and signatures hold;
2. every memo, Markdown memo and diagram a receipt names matches its CID;
3. the anchored leaf is the digest of a receipt of this chain and is listed in the batch
   manifest, whose leaves rebuild the anchored root;
4. the recorded inclusion proof leads from the leaf to the root;
5. the root is anchored on chain, and the contract itself accepts the proof.
"""

from __future__ import annotations

import json
from typing import Any

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import ContentStore, LocalContentStore
from dalrn_core.podp.batch import entry_from_disk
from dalrn_core.podp.merkle import merkle_root, verify_proof
from dalrn_core.podp.receipts import receipt_leaf, verify_chain
from dalrn_core.podp.signing import ReceiptSigner

ARTIFACT_OUTPUTS = ("memo_cid", "memo_markdown_cid", "diagram_cid")


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _fetch(store: ContentStore, cid: str, what: str, chain_id: str) -> bytes:
    try:
        return store.get(cid)
    except IntegrityError as exc:
        raise IntegrityError(f"receipt chain {chain_id}: {what} ({cid}): {exc}") from None


def _check_receipts(chain_id: str, cids: list[str], store: ContentStore, trusted: set[str]) -> list[dict[str, Any]]:
    receipts = [json.loads(_fetch(store, cid, f"receipt #{i}", chain_id)) for i, cid in enumerate(cids)]
    try:
        verify_chain(receipts, chain_id=chain_id, trusted_signers=trusted, expected_cids=cids)
    except IntegrityError as exc:
        raise IntegrityError(f"receipt chain {chain_id}: {exc}") from None
    return receipts


def _check_batch(chain_id: str, anchor: dict[str, Any], cids: list[str], receipts: list[dict[str, Any]],
                 store: ContentStore) -> tuple[bytes, list[bytes], bytes]:
    if anchor["leaf_receipt_cid"] not in cids:
        raise IntegrityError(f"receipt chain {chain_id}: the anchored receipt {anchor['leaf_receipt_cid']} is not in its chain")
    leaf_receipt = receipts[cids.index(anchor["leaf_receipt_cid"])]
    leaf, root = _hex(anchor["leaf"]), _hex(anchor["root"])
    if receipt_leaf(leaf_receipt) != leaf:
        raise IntegrityError(f"receipt chain {chain_id}: Merkle leaf does not match receipt {leaf_receipt['receipt_id']}")
    manifest_cid = anchor["manifest_cid"]
    manifest = json.loads(_fetch(store, manifest_cid, "batch manifest", chain_id))
    listed = [e for e in map(entry_from_disk, manifest.get("leaves", [])) if e.get("chain_id") == chain_id]
    if not listed or _hex(listed[0]["leaf"]) != leaf:
        raise IntegrityError(f"receipt chain {chain_id}: batch manifest {manifest_cid} does not list this chain's leaf")
    if merkle_root([_hex(e["leaf"]) for e in manifest["leaves"]]) != root:
        raise IntegrityError(
            f"receipt chain {chain_id}: batch manifest {manifest_cid} does not rebuild the anchored root {anchor['root']}"
        )
    proof = [_hex(p) for p in anchor["proof"]]
    if not verify_proof(leaf, proof, root):
        raise IntegrityError(f"receipt chain {chain_id}: Merkle proof does not lead to root {anchor['root']}")
    return leaf, proof, root


def verify_dispute(
    chain_id: str,
    *,
    store: ContentStore | None = None,
    client: AnchorClient | None = None,
    trusted_signers: set[str] | None = None,
) -> list[str]:
    """Verify everything recorded for `chain_id`; returns what held, raises on a failure.

    Parameters
    ----------
    chain_id
        The receipt chain whose record (in the data folder) is checked; for a dispute,
        its chain key.
    store, client, trusted_signers
        The content store, anchor client and signer keys to check against; by default the
        local store, the embedded chain and the key file's public key.
    """
    record = load_record(chain_id)
    store = store if store is not None else LocalContentStore()
    trusted = trusted_signers if trusted_signers is not None else {ReceiptSigner.public_key_from_file()}
    cids = record.get("receipts", [])
    receipts = _check_receipts(chain_id, cids, store, trusted)
    held = [f"{len(receipts)} receipts: signatures valid, hash chain unbroken, CIDs match"]

    for receipt in receipts:
        for name in ARTIFACT_OUTPUTS:
            if name in receipt["outputs"]:
                _fetch(store, receipt["outputs"][name], f"{name} of receipt {receipt['receipt_id']}", chain_id)
    held.append("memo, Markdown memo and diagram match their CIDs")

    anchor = record.get("anchor")
    if not anchor:
        raise IntegrityError(f"receipt chain {chain_id}: anchor pending (no batch has anchored it yet)")
    leaf, proof, root = _check_batch(chain_id, anchor, cids, receipts, store)
    held.append(f"Merkle proof ({len(proof)} siblings) leads to root {anchor['root']}")

    client = client if client is not None else open_embedded_anchor()
    evm_chain_id = client.w3.eth.chain_id
    # The anchor record's "chain_id" is the blockchain's (EIP-155) id, not the receipt chain's.
    recorded_chain, recorded_contract = anchor.get("chain_id"), anchor.get("contract")
    if recorded_chain is not None and recorded_chain != evm_chain_id:
        raise IntegrityError(f"receipt chain {chain_id}: anchored on chain {recorded_chain}, but checked against chain "
                             f"{evm_chain_id}; verify with that chain's client")
    if recorded_contract and recorded_contract.lower() != client.address.lower():
        raise IntegrityError(f"receipt chain {chain_id}: anchored by contract {recorded_contract}, but checked against "
                             f"{client.address}")
    if not client.is_anchored(root):
        raise IntegrityError(f"receipt chain {chain_id}: root {anchor['root']} is not anchored on chain {evm_chain_id}")
    if not client.verify_receipt(leaf, proof, root):
        raise IntegrityError(f"receipt chain {chain_id}: the contract on chain {evm_chain_id} rejects the inclusion proof")
    held.append(f"root anchored on chain {evm_chain_id} at {client.address}; contract accepts the proof")
    if anchor.get("model_hash"):  # a federated round: the contract holds its model and round
        stored, model_hash = client.contract.functions.anchorOf(root).call({"from": client.account.address})
        if model_hash.hex() != anchor["model_hash"] or stored[3] != anchor.get("fl_round"):
            raise IntegrityError(f"receipt chain {chain_id}: the contract holds model {model_hash.hex()} round {stored[3]} "
                                 f"for root {anchor['root']}, not the recorded model {anchor['model_hash']} round "
                                 f"{anchor.get('fl_round')}")
        held.append(f"contract holds model {anchor['model_hash'][:12]}... at round {anchor['fl_round']}")
    return held
