"""A party's own side of a joint dispute, on the party's machine: `dalrn split` and `dalrn join`.

`dalrn split FILE --out DIR` takes a whole dispute apart into what each side owns: the
opener's file (the shared structure and its own side) and one side file per other party,
to hand to that party. Side files carry no salt: each party's own client salts and commits
its side when it sends it (`dalrn submit` for the opener, `dalrn join` for the others), so
no one else ever knows the salt. The salted side is kept in the tenant's home
(`DALRN_TENANT_HOME/sides/<dispute>/`, mode 0600): sending the same inputs again reuses the
salt (the same body, so a retry is idempotent), and the salt lets the party later prove which
input the negotiation used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dalrn_core.dispute.sides import PartySide, commitment_of, parse_side, split_dispute
from dalrn_core.errors import InputError
from dalrn_core.podp.canonical import digest_of

SIDE_FILE = "{id}.{party}.side.json"
OPENING_FILE = "{id}.opening.json"
_UNSALTED = ("salt", "commitment")


def _read(path: str | Path, what: str) -> dict[str, Any]:
    try:
        body = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError.one("file", f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError.one("file", f"{path} is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InputError.one("file", f"{path} must hold a JSON object ({what})")
    return body


def split(path: str | Path, out_dir: str | Path, *, opener: str | None = None) -> list[Path]:
    """Write the opener's file and one side file per other party; returns the paths written."""
    from dalrn_cli.json_input import read_json_object
    from dalrn_cli.tenant_sdk import confidential_ids, precheck

    body = read_json_object(path, "a dispute")
    if "side" in body:
        raise InputError.one("file", f"{path} is a joint opening already (it has a side): split takes the whole "
                                     "dispute")
    dispute = precheck(body)  # confidential items, still with their text here, read as public
    secret = confidential_ids(body)  # they stay marked in the side files, to be sealed by their owner
    if not dispute.is_joint:
        raise InputError.one("parties", f"no party names a tenant other than {dispute.tenant}: the filing is "
                                        "one-sided, submit it as it is (dalrn submit)")
    ids = dispute.party_ids
    own = opener or next((p.id for p in dispute.parties if p.tenant == dispute.tenant), None)
    if own is None:
        raise InputError.one("tenant", f"no party names the submitting tenant {dispute.tenant}: pass --party "
                                       f"with the opener's party ({', '.join(ids)})")
    if own not in ids:
        raise InputError.one("party", f"{own!r} is not a party of dispute {dispute.id} ({', '.join(ids)})")
    shared, sides = split_dispute(dispute)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opening = {**shared.model_dump(mode="json", exclude_none=True),
               "side": _marked(sides[own].model_dump(mode="json", exclude=set(_UNSALTED)), secret)}
    written = [_write(out / OPENING_FILE.format(id=dispute.id), opening)]
    for party in ids:
        if party != own:
            written.append(_write(out / SIDE_FILE.format(id=dispute.id, party=party),
                                  _marked(sides[party].model_dump(mode="json", exclude=set(_UNSALTED)), secret)))
    return written


def _marked(side: dict[str, Any], confidential: set[str]) -> dict[str, Any]:
    for item in side.get("evidence", []):
        if item.get("id") in confidential:
            item["confidential"] = True
    return side


def _write(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def _kept_path(dispute_id: str, party: str, inputs: dict[str, Any]) -> Path:
    from dalrn_core.tenant_home import tenant_dir

    for field, value in (("id", dispute_id), ("party", party)):
        if not isinstance(value, str) or not value or "/" in value or value.startswith("."):
            raise InputError.one(field, "must be an id (letters, digits, '.', '_', '-')", subject="side")
    return tenant_dir("sides", dispute_id) / f"{party}-{digest_of(inputs)[:16]}.json"


def salted_side(draft: dict[str, Any], dispute_id: str) -> PartySide:
    """The party's side, salted and committed; the salt is kept in the tenant's home.

    A side that already carries a salt and commitment is checked, not salted again.
    """
    if all(k in draft for k in _UNSALTED):
        side = parse_side(draft)
        if commitment_of(side.salt, side.party, side.batna, side.payoffs) != side.commitment:
            raise InputError.one("commitment", "does not match sha256(salt || RFC 8785 JSON of {party, batna, "
                                               "payoffs}): the side was changed after it was committed",
                                 subject="side")
    else:
        probe = PartySide.commit(**_fields(draft), salt=draft.get("salt"))  # names a bad field
        path = _kept_path(dispute_id, probe.party, probe.committed_inputs())
        kept = json.loads(path.read_text()) if path.exists() and "salt" not in draft else None
        side = PartySide.commit(**_fields(draft), salt=kept["salt"]) if kept else probe
    _keep(dispute_id, side)
    return side


def _fields(draft: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(draft) - {"party", "batna", "payoffs", "claim", "evidence", *_UNSALTED})
    if unknown:
        raise InputError.one(unknown[0], "unknown field of a side", subject="side")
    missing = [k for k in ("party", "batna", "payoffs") if k not in draft]
    if missing:
        raise InputError.one(missing[0], "required", subject="side")
    return {k: draft[k] for k in ("party", "batna", "payoffs", "claim", "evidence") if k in draft}


def _keep(dispute_id: str, side: PartySide) -> Path:
    path = _kept_path(dispute_id, side.party, side.committed_inputs())
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(side.model_dump(mode="json"), handle, indent=2)
    return path


def salted_opening(body: dict[str, Any]) -> dict[str, Any]:
    """A joint opening with its side salted (the body `dalrn submit` sends)."""
    side = body.get("side")
    if not isinstance(side, dict):
        raise InputError.one("side", "must be a JSON object (your party's side)")
    dispute_id = body.get("id")
    if not isinstance(dispute_id, str):
        raise InputError.one("id", "required: the dispute id")
    return {**body, "side": salted_side(side, dispute_id).model_dump(mode="json")}


def join(dispute_id: str, path: str | Path, *, api: str | None, tenant: str | None = None) -> dict[str, Any]:
    """Send this party's side of dispute `dispute_id` (opened by `tenant`) to the gateway."""
    from dalrn_cli.api_client import GatewayClient, api_key_from_env
    from dalrn_cli.submit import api_url
    from dalrn_cli.tenant_sdk import has_confidential, precheck, seal_side_for_gateway

    draft = _read(path, "a party's side")
    confidential = has_confidential(draft)
    side = None if confidential else salted_side(draft, dispute_id)  # checked before any key is read
    if confidential:
        precheck(draft)
    with GatewayClient(api_url(api), api_key_from_env()) as client:
        if side is None:  # sealed for every tenant the dispute names, sent only as ciphertext
            side = salted_side(seal_side_for_gateway(draft, dispute_id, client, tenant).body, dispute_id)
        return client.join_dispute(dispute_id, side.model_dump(mode="json"), tenant=tenant)
