"""`dalrn evidence show DISPUTE_ID EVIDENCE_ID --api URL`: read an evidence item of your dispute,
decrypting a confidential one here with your own key. `dalrn evidence key --api URL`: register
your X25519 public key, so other parties can let you read their confidential evidence.

Both act for the tenant of `DALRN_API_KEY`, with its keys in `DALRN_TENANT_HOME`; the
gateway hands out only the envelope, never a key that opens it.
"""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import TypeAdapter, ValidationError

from dalrn_core.dispute.model import Identifier
from dalrn_core.errors import InputError

_ID: TypeAdapter[str] = TypeAdapter(Identifier)


def _checked_id(value: str, field: str) -> str:
    try:
        return _ID.validate_python(value)
    except ValidationError:
        raise InputError.one(field, "must be an id (letters, digits, '.', '_', '-'; at most 64)") from None


def show(dispute_id: str, evidence_id: str, *, api: str | None) -> dict:
    """The item as its reader sees it: a confidential one with its text decrypted on this side."""
    from dalrn_cli.api_client import GatewayClient, GatewayContent, api_key_from_env
    from dalrn_cli.submit import api_url
    from dalrn_cli.tenant_sdk import show_evidence

    _checked_id(dispute_id, "dispute_id")
    _checked_id(evidence_id, "evidence_id")
    with GatewayClient(api_url(api), api_key_from_env()) as client:
        return show_evidence(dispute_id, evidence_id, client, GatewayContent(client))


def register_key(*, api: str | None) -> dict:
    from dalrn_cli.api_client import GatewayClient, api_key_from_env
    from dalrn_cli.submit import api_url
    from dalrn_cli.tenant_sdk import GatewayReaders
    from dalrn_core.evidence.envelope import key_id_of

    with GatewayClient(api_url(api), api_key_from_env()) as client:
        tenant = client.tenant
        own = GatewayReaders(client).register(tenant)
    return {"tenant": tenant, "key_id": key_id_of(own)}


def cmd_show(args: argparse.Namespace) -> int:
    item = show(args.dispute_id, args.evidence_id, api=args.api)
    if args.json:
        print(json.dumps(item, indent=2))
        return 0
    kind = "confidential, decrypted here" if item.get("confidential") else "public"
    print(f"{item['evidence_id']} ({kind}) of party {item['party']}: {item['title']}", file=sys.stderr)
    print(item["text"])
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    answer = register_key(api=args.api)
    print(json.dumps(answer, indent=2) if args.json else f"tenant {answer['tenant']}: envelope key {answer['key_id']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    evidence = sub.add_parser("evidence", help="your disputes' evidence; confidential items decrypted on your side "
                              "(DALRN_API_KEY=KEY_ID:SECRET)")
    evidence_sub = evidence.add_subparsers(dest="evidence_command", required=True)
    show_cmd = evidence_sub.add_parser("show", help="print an evidence item (a confidential one decrypted here)")
    show_cmd.add_argument("dispute_id")
    show_cmd.add_argument("evidence_id")
    show_cmd.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    show_cmd.add_argument("--json", action="store_true")
    show_cmd.set_defaults(func=cmd_show)
    key = evidence_sub.add_parser("key", help="register your X25519 public key (from DALRN_TENANT_HOME) with the "
                                  "gateway, so other parties can wrap their evidence for you")
    key.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    key.add_argument("--json", action="store_true")
    key.set_defaults(func=cmd_key)
