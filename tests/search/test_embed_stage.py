"""The server's embed stage embeds what the server may read: public evidence and the claims,
never a confidential item (which reaches the flow as a ciphertext CID only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.stages import Intake
from dalrn_core.podp.canonical import digest_of
from dalrn_core.search.embed import Embedder, EmbeddingCache

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def _intake() -> Intake:
    data = json.loads(json.dumps(SAMPLE))
    secret = data["evidence"][0]
    secret.pop("text")
    secret.update(confidential=True, ciphertext_cid=CID)
    return Intake(dispute=Dispute.model_validate(data), submitted_digest="0" * 64, dispute_cid=CID,
                  evidence_cids={})


def test_the_embed_stage_embeds_public_evidence_and_claims_only(tmp_path):
    from tasks.embed import embed_texts

    intake = _intake()
    claims = [p["claim"] for p in SAMPLE["parties"]]
    assert intake.claims == claims and all(claims)
    public = [d["text"] for d in SAMPLE["evidence"][1:]]
    assert intake.texts == public  # the confidential item has no text at the server
    embedding = embed_texts.fn(intake.texts, intake.claims)
    fields = embedding.receipt_fields()
    assert fields["inputs"] == {"evidence": digest_of(public), "claims": digest_of(claims)}
    # An independent reference: the same model embedding each text afresh.
    reference = Embedder.with_cache(EmbeddingCache(tmp_path / "reference"))
    assert np.allclose(embedding.vectors, reference.encode(public), atol=1e-5)
    assert np.allclose(embedding.claim_vectors, reference.encode(claims), atol=1e-5)
    assert fields["outputs"]["claim_embeddings"] == digest_of(embedding.claim_vectors)
    secret = reference.encode([SAMPLE["evidence"][0]["text"]])[0]
    held = np.asarray(embedding.vectors + embedding.claim_vectors)
    assert float((held @ secret).max()) < 0.99  # the confidential text's vector is not among them
