"""The tenant's side of confidential evidence: embed and encrypt here, send only ciphertexts.

This runs in the tenant's own process (the `dalrn` CLI acting for the tenant), with the
tenant's folder (`DALRN_TENANT_HOME`) and never the server's. In the dispute file a tenant
writes, an evidence item marked ``"confidential": true`` keeps its ``text``; before anything
leaves this process:

1. the text is embedded here with MiniLM (the model the server uses, `search.embed`), into
   the tenant's own embedding cache, for the tenant's encrypted precedent query;
2. it is sealed in an envelope (`evidence.envelope`) under the dispute's data key, wrapped
   for the tenant itself and for every other party tenant the file names (their X25519
   public keys come from the gateway);
3. the envelope is uploaded (`POST /v1/content`, or the local store in the embedded demo)
   and the item sent as ``{id, party, title, confidential: true, ciphertext_cid}``.

The server then holds the ciphertext and its CID, never the text nor its embedding; its
`embed` stage embeds only the public items. A reader of the dispute downloads the envelope
and opens it here (`dalrn evidence show`).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.envelope import open_envelope, public_bytes, seal
from dalrn_core.tenant_home import dispute_data_key, envelope_key


@dataclass(frozen=True)
class SealedDispute:
    """A dispute file made ready to leave the tenant's process."""

    body: dict[str, Any]  # what the server receives: confidential texts replaced by envelope CIDs
    texts: list[str]  # every evidence text of the file, in order: the tenant's own query is built from these
    sealed: dict[str, str]  # evidence id -> envelope CID

    @property
    def confidential(self) -> bool:
        return bool(self.sealed)


def _item_lists(body: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """Where evidence sits in a file: a whole dispute's `evidence`, an opening's or a side's."""
    found = []
    if isinstance(body.get("evidence"), list):
        found.append(("evidence", body["evidence"]))
    side = body.get("side")
    if isinstance(side, dict) and isinstance(side.get("evidence"), list):
        found.append(("side.evidence", side["evidence"]))
    return found


def _items(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(f"{prefix}[{i}]", item) for prefix, items in _item_lists(body) for i, item in enumerate(items)]


def has_confidential(body: Mapping[str, Any]) -> bool:
    """Whether the file marks any evidence item confidential."""
    return any(isinstance(item, dict) and item.get("confidential") is True for _, item in _items(body))


def confidential_ids(body: Mapping[str, Any]) -> set[str]:
    """The ids of the items the file marks confidential."""
    return {str(item.get("id")) for _, item in _items(body)
            if isinstance(item, dict) and item.get("confidential") is True}


def _as_public(body: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(body))
    for _, item in _items(out):
        if isinstance(item, dict) and item.get("confidential") is True:
            item.pop("confidential")
    return out


def precheck(body: Mapping[str, Any]) -> Any:
    """The file validated by every rule of a dispute, a joint opening or a side, its
    confidential items read as public; returns the parsed model.

    Run before anything is sealed or uploaded, so a mistake elsewhere in the file costs no
    upload; the confidential items' own rules are the server's to check on the sealed body.
    """
    from dalrn_core.dispute.parse import parse_dispute

    public = _as_public(body)
    if "side" in public:
        from dalrn_core.dispute.sides import check_side, parse_shared

        side = public.pop("side")
        shared = parse_shared(public)
        draft = _side_draft(side)
        check_side(shared, draft, field="side")
        return shared
    if "batna" in public and "payoffs" in public:  # a side alone, to join a dispute
        return _side_draft(public)
    return parse_dispute(public)


def _side_draft(side: Any) -> Any:
    """A side checked as its party's client will commit it (a draft salt when it has none)."""
    from dalrn_core.dispute.sides import PartySide

    if not isinstance(side, dict):
        raise InputError.one("side", "must be a JSON object (your party's side)", subject="dispute")
    fields = {k: side[k] for k in ("party", "batna", "payoffs", "claim", "evidence") if k in side}
    missing = [k for k in ("party", "batna", "payoffs") if k not in fields]
    if missing:
        raise InputError.one(f"side.{missing[0]}", "required", subject="side")
    return PartySide.commit(**fields)


def reader_tenants(body: Mapping[str, Any], tenant: str) -> list[str]:
    """The tenants a confidential item is wrapped for: this tenant and every party tenant named."""
    named = {p.get("tenant") for p in body.get("parties") or [] if isinstance(p, dict)}
    return sorted({tenant, *(t for t in named if isinstance(t, str) and t)})


def _owner(body: Mapping[str, Any], party: Any, tenant: str) -> str:
    for p in body.get("parties") or []:
        if isinstance(p, dict) and p.get("id") == party and isinstance(p.get("tenant"), str):
            return str(p["tenant"])
    return tenant


def seal_dispute(body: Mapping[str, Any], *, tenant: str, readers: Mapping[str, bytes],
                 put: Callable[[bytes], str], dispute_id: str | None = None) -> SealedDispute:
    """Encrypt the file's confidential items and upload their envelopes with `put`.

    Parameters
    ----------
    body : mapping
        The dispute, joint opening or joining side as the tenant wrote it (confidential
        items with their text).
    tenant : str
        This tenant: it owns every confidential item it seals.
    readers : mapping of str to bytes
        Each tenant that may read the items and its X25519 public key (this tenant among them).
    put : callable
        Stores bytes and returns their CID (`POST /v1/content` or a local store).
    dispute_id : str, optional
        The dispute, for a side that does not name it (default: the body's `id`).

    Returns
    -------
    SealedDispute
        The body to send, every evidence text for the query, and the envelope CIDs.
    """
    dispute_id = dispute_id or body.get("id")
    if not isinstance(dispute_id, str):
        raise InputError.one("id", "a dispute with confidential evidence needs its id", subject="dispute")
    out = copy.deepcopy(dict(body))
    texts: list[str] = []
    sealed: dict[str, str] = {}
    data_key: bytes | None = None
    for field, item in _items(out):
        if not isinstance(item, dict):
            continue  # the server's validation names the field
        text = item.get("text")
        if isinstance(text, str) and text.strip():
            texts.append(text)
        if item.get("confidential") is not True:
            continue
        if not isinstance(text, str) or not text.strip():
            raise InputError.one(f"{field}.text", "a confidential item needs its text in your file (it is "
                                                  "encrypted here, before sending)", subject="dispute")
        if "ciphertext_cid" in item:
            raise InputError.one(f"{field}.ciphertext_cid", "is set by the encryption; leave it out of your file",
                                 subject="dispute")
        owner = _owner(out, item.get("party"), tenant)
        if owner != tenant:
            raise InputError.one(f"{field}.party", f"is party {item.get('party')!r} of tenant {owner!r}: each "
                                                   "tenant encrypts only its own party's evidence",
                                 subject="dispute")
        if not isinstance(item.get("id"), str):
            raise InputError.one(f"{field}.id", "a confidential item needs its id", subject="dispute")
        data_key = data_key or dispute_data_key(tenant, dispute_id)
        envelope = seal(text, data_key=data_key, tenant=tenant, dispute=dispute_id, evidence=item["id"],
                        recipients=readers)
        cid = put(envelope)
        if cid != cid_of(envelope):
            raise IntegrityError(f"the store named the envelope of {item['id']} {cid}, not its CID {cid_of(envelope)}")
        sealed[item["id"]] = cid
        del item["text"]
        item["ciphertext_cid"] = cid
    return SealedDispute(body=out, texts=texts, sealed=sealed)


def seal_locally(body: Mapping[str, Any], tenant: str, put: Callable[[bytes], str]) -> SealedDispute:
    """The embedded demo's sealing: readable by this tenant only (no gateway to ask for others' keys)."""
    others = [t for t in reader_tenants(body, tenant) if t != tenant]
    if others and has_confidential(body):
        raise InputError.one("parties", f"the file names tenants {others} as readers: seal through the gateway "
                                        "(dalrn submit --api), which holds their public keys", subject="dispute")
    return seal_dispute(body, tenant=tenant, readers={tenant: public_bytes(envelope_key(tenant))}, put=put)


class GatewayReaders:
    """The readers' public keys through the gateway; this tenant's own is registered first."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def register(self, tenant: str) -> bytes:
        own = public_bytes(envelope_key(tenant))
        self.client.request("PUT", "/v1/keys/envelope", json={"public_key": base64.b64encode(own).decode()})
        return own

    def public_key(self, tenant: str) -> bytes:
        from dalrn_cli.api_client import GatewayError

        try:
            answer = self.client.get_json(f"/v1/keys/envelope/{tenant}")
        except GatewayError as exc:
            if exc.code == "envelope_key.not_found":
                raise InputError.one("parties", f"tenant {tenant} has registered no envelope key yet, so it could "
                                                "not read your confidential evidence: it registers one with any "
                                                "`dalrn submit` or `dalrn evidence key --api`", subject="dispute") \
                    from None
            raise
        return base64.b64decode(answer["public_key"])

    def readers(self, body: Mapping[str, Any], tenant: str) -> dict[str, bytes]:
        own = self.register(tenant)
        return {t: own if t == tenant else self.public_key(t) for t in reader_tenants(body, tenant)}


def seal_through_gateway(body: Mapping[str, Any], client: Any, content: Any) -> SealedDispute:
    """Seal the file's confidential items for every party tenant and upload them to the gateway."""
    tenant = client.tenant
    if not has_confidential(body):
        return seal_dispute(body, tenant=tenant, readers={}, put=content.put)
    readers = GatewayReaders(client).readers(body, tenant)
    return seal_dispute(body, tenant=tenant, readers=readers,
                        put=lambda data: content.put(data, "evidence envelope"))


def seal_for_gateway(body: Mapping[str, Any], client: Any) -> SealedDispute:
    """The file checked, then its confidential items sealed and uploaded through the gateway."""
    from dalrn_cli.api_client import GatewayContent

    tenant = client.tenant
    if body.get("tenant", tenant) != tenant:
        raise InputError.one("tenant", f"the file names tenant {body['tenant']!r}, your API key is tenant "
                                       f"{tenant!r}: leave tenant out or make it yours", subject="dispute")
    precheck({**body, "tenant": tenant})
    return seal_through_gateway(body, client, GatewayContent(client))


def seal_side_for_gateway(side: Mapping[str, Any], dispute_id: str, client: Any,
                          tenant: str | None = None) -> SealedDispute:
    """A joining side's confidential items sealed for every tenant the dispute names, uploaded.

    The dispute's parties come from the gateway (`GET /v1/disputes/{id}/join`), so the side
    is readable by the opener and every other party's tenant, as the opener's is.
    """
    from dalrn_cli.api_client import GatewayContent

    if not has_confidential(side):
        return SealedDispute(body=dict(side), texts=[], sealed={})
    precheck(side)
    suffix = f"?tenant={tenant}" if tenant else ""
    shared = client.get_json(f"/v1/disputes/{dispute_id}/join{suffix}")["dispute"]
    me = client.tenant
    readers = GatewayReaders(client).readers(shared, me)
    owned = {**side, "parties": shared.get("parties") or []}
    sealed = seal_dispute(owned, tenant=me, readers=readers, dispute_id=dispute_id,
                          put=lambda data: GatewayContent(client).put(data, "evidence envelope"))
    body = {k: v for k, v in sealed.body.items() if k != "parties"}
    return SealedDispute(body=body, texts=sealed.texts, sealed=sealed.sealed)


def show_evidence(dispute_id: str, evidence_id: str, client: Any, content: Any) -> dict[str, Any]:
    """An evidence item of a dispute, a confidential one decrypted here with this tenant's key."""
    view: dict[str, Any] = client.get_json(f"/v1/disputes/{dispute_id}/evidence/{evidence_id}")
    if not view.get("confidential"):
        return view
    tenant = client.tenant
    envelope = content.get(view["ciphertext_cid"])
    text = open_envelope(envelope, tenant=tenant, private_key=envelope_key(tenant),
                         expect=(view["owner"], dispute_id, evidence_id))
    return {**view, "text": text}
