"""The dispute run's intake of a joint filing: sealed sides in, one whole dispute out.

The run never receives a BATNA or payoff as a parameter: it gets the shared structure and,
per party, the content-store CID of that party's sealed side. Intake opens each side with
the server's sealing key (bound to this tenant's dispute and that party), checks it against
its commitment and assembles the dispute the negotiation needs. What it stores and signs is
the shared structure with the commitments, so no receipt or stored dispute holds a private
value. A dispute some party did not join by its deadline ends here as `no_agreement`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dalrn_core.dispute.sides import SharedDispute, parse_shared
from dalrn_core.dispute.stages import Intake, LapsedIntake, Negotiation
from dalrn_core.errors import InputError
from dalrn_core.evidence.confidential import evidence_cids
from dalrn_core.evidence.store import ContentStore
from dalrn_core.negotiation.result import NegotiationResult
from dalrn_core.podp.canonical import canonical_bytes, digest_of
from dalrn_core.sealing import unseal_side


def _shared(dispute: dict[str, Any], tenant: str | None) -> SharedDispute:
    shared = parse_shared(dispute)
    if tenant is None or tenant != shared.tenant:
        raise InputError.one("tenant", f"a joint dispute runs for its submitting tenant {shared.tenant!r}, "
                                       f"not {tenant!r}", subject="dispute")
    return shared


def _stored_shape(shared: SharedDispute, commitments: Mapping[str, str]) -> bytes:
    return canonical_bytes({**shared.model_dump(mode="json"), "commitments": dict(commitments)})


def open_joint(dispute: dict[str, Any], tenant: str | None, sides: Mapping[str, str],
               store: ContentStore) -> Intake:
    """Open every party's sealed side (by CID), assemble and store the joint dispute.

    Raises InputError when a side is missing or does not fit, IntegrityError when a sealed
    side does not open or does not hold to its commitment.
    """
    from dalrn_core.dispute.sides import assemble

    shared = _shared(dispute, tenant)
    opened = {party: unseal_side(store.get(cid), shared.tenant, shared.id, party) for party, cid in sides.items()}
    whole = assemble(shared, opened)  # nothing is stored if this raises
    commitments = {p: opened[p].commitment for p in shared.party_ids}
    cids = evidence_cids(whole, whole.evidence, store)  # a confidential item: its party's envelope, checked
    return Intake(dispute=whole, submitted_digest=digest_of(dispute),
                  dispute_cid=store.put(_stored_shape(shared, commitments)), evidence_cids=cids,
                  tenant=shared.tenant, commitments=commitments)


def open_lapsed(dispute: dict[str, Any], tenant: str | None, sides: Mapping[str, str], absent: list[str],
                store: ContentStore) -> LapsedIntake:
    """The intake of a joint dispute whose deadline passed with `absent` parties not joined."""
    shared = _shared(dispute, tenant)
    unknown = [p for p in [*sides, *absent] if shared.party(p) is None]
    if unknown:
        raise InputError.one("absent_parties", f"{unknown[0]!r} is not a party of dispute {shared.id}",
                             subject="dispute")
    if not absent or set(absent) & set(sides) or set(absent) | set(sides) != set(shared.party_ids):
        raise InputError.one("absent_parties", "must name exactly the parties without a side",
                             subject="dispute")
    commitments = {p: unseal_side(store.get(cid), shared.tenant, shared.id, p).commitment
                   for p, cid in sides.items()}
    return LapsedIntake(shared=shared, submitted_digest=digest_of(dispute),
                        dispute_cid=store.put(_stored_shape(shared, commitments)), tenant=shared.tenant,
                        commitments=commitments, sealed_cids=dict(sides),
                        absent=[p for p in shared.party_ids if p in absent])


def lapse_negotiation(intake: LapsedIntake, rule: str) -> Negotiation:
    """`no_agreement`, because a party did not join: nothing was negotiated."""
    shared = intake.shared
    result = NegotiationResult(game="bimatrix" if shared.game is not None else "joint", outcome="no_agreement",
                               parties=shared.party_ids, rule=rule, batna={}, payoffs=None, gains=None,
                               notes=[intake.reason])
    return Negotiation(rule=rule, dispute_cid=intake.dispute_cid, result=result, reason=intake.reason)
