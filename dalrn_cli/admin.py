"""`dalrn admin`: tenants, API keys, auditor grants, token- and receipt-signing keys, the OpenAPI file.

Runs on the server host against the gateway database under DALRN_HOME (or
DALRN_GATEWAY_DATABASE_URL); the database is migrated first. A key's secret is printed
once and never stored: only its argon2id hash is.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TypeVar

from dalrn_core.errors import InputError

T = TypeVar("T")


def _session():
    from gateway.db import open_database
    from gateway.settings import Settings

    settings = Settings()
    _engine, sessions = open_database(settings.database_url)
    return settings, sessions()


def _in_session(work: Callable[..., T]) -> T:
    """`work(session)` in one session of the gateway database, closed after."""
    _settings, session = _session()
    with session:
        return work(session)


def _print_key(issued: dict, as_json: bool, what: str) -> None:
    if as_json:
        print(json.dumps(issued, indent=2))
        return
    print(f"{what} for tenant {issued['tenant']}: key id {issued['key_id']}, expires {issued['expires_at']}")
    print(f"API key (shown once): {issued['api_key']}")


def cmd_tenant_create(args: argparse.Namespace) -> int:
    from gateway.identity import create_tenant

    settings, session = _session()
    with session:
        issued = create_tenant(session, args.name, args.role, ttl_days=args.ttl_days or settings.key_ttl_days,
                               grants=args.grant or [])
    _print_key(issued.to_json(), args.json, "created")
    return 0


def cmd_tenant_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from gateway.db.models import Tenant

    _settings, session = _session()
    with session:
        rows = [{"tenant": t.name, "role": t.role} for t in session.scalars(select(Tenant).order_by(Tenant.name))]
    print(json.dumps(rows, indent=2) if args.json else "\n".join(f"{r['tenant']}\t{r['role']}" for r in rows))
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    from gateway.identity import rotate_key

    settings, session = _session()
    overlap = settings.rotate_overlap_h if args.overlap_hours is None else args.overlap_hours
    with session:
        issued = rotate_key(session, args.key_id, overlap_h=overlap, ttl_days=settings.key_ttl_days)
    _print_key(issued.to_json(), args.json, f"rotated {args.key_id} (old key valid {overlap:g} h more)")
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    from gateway.identity import revoke_key

    _in_session(lambda session: revoke_key(session, args.key_id))
    print(f"revoked {args.key_id}: its tokens are refused from the next request")
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    from gateway.identity import grant

    _settings, session = _session()
    with session:
        grant(session, args.auditor, args.tenant)
        session.commit()
    print(f"auditor {args.auditor} may read receipts and audit entries of {args.tenant}")
    return 0


def cmd_jwt_rotate(args: argparse.Namespace) -> int:
    from gateway.tokens import rotate_signing_key

    kid = _in_session(rotate_signing_key)
    print(f"new token-signing key {kid}; earlier keys stay published one token lifetime")
    return 0


def cmd_receipt_key_list(args: argparse.Namespace) -> int:
    from gateway.receipt_keys import published

    keys = _in_session(published)
    if args.json:
        print(json.dumps(keys, indent=2))
    else:
        print("\n".join(f"{k['kid']}\t{k['status']}\t{k['public_key']}" for k in keys))
    return 0


def cmd_receipt_key_rotate(args: argparse.Namespace) -> int:
    from gateway.receipt_keys import rotate

    old, new = _in_session(rotate)
    print(f"receipts are signed with {new} from now on (restart the workers to load it); "
          f"{old} stays published as retired, so what it signed still verifies")
    return 0


def cmd_receipt_key_revoke(args: argparse.Namespace) -> int:
    from gateway.receipt_keys import revoke

    _in_session(lambda session: revoke(session, args.kid))
    print(f"revoked {args.kid}: no longer published; receipts it signed no longer verify")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from gateway.openapi import write

    path = write(args.out)
    print(f"wrote {path}")
    return 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError.one("--overlap-hours", f"{text!r} is not a number") from None
    if value < 0:
        raise InputError.one("--overlap-hours", "must not be negative")
    return value


def register(sub) -> None:
    admin = sub.add_parser("admin", help="gateway tenants, keys, grants (on the server host)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    tenant = admin_sub.add_parser("tenant", help="tenants (firms, auditors, operators, admins)")
    tenant_sub = tenant.add_subparsers(dest="tenant_admin_command", required=True)
    create = tenant_sub.add_parser("create", help="create a tenant and print its first API key once")
    create.add_argument("name")
    create.add_argument("--role", default="party", choices=["party", "auditor", "operator", "admin"])
    create.add_argument("--grant", action="append", metavar="TENANT", help="auditor: a tenant it may audit")
    create.add_argument("--ttl-days", type=int, default=None, help="key lifetime (default 365)")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=cmd_tenant_create)
    listing = tenant_sub.add_parser("list", help="every tenant and its role")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_tenant_list)

    key = admin_sub.add_parser("key", help="API keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    rotate = key_sub.add_parser("rotate", help="a new key; the old one stays valid for the overlap")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap-hours", type=_positive, default=None, help="default 24")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=cmd_key_rotate)
    revoke = key_sub.add_parser("revoke", help="refuse the key (and its tokens) from the next request")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_key_revoke)

    grant = admin_sub.add_parser("grant", help="let an auditor read a tenant's receipts and audit entries")
    grant.add_argument("auditor")
    grant.add_argument("--tenant", required=True)
    grant.set_defaults(func=cmd_grant)

    jwt = admin_sub.add_parser("jwt", help="token-signing keys")
    jwt_sub = jwt.add_subparsers(dest="jwt_command", required=True)
    jwt_rotate = jwt_sub.add_parser("rotate", help="start signing with a new key")
    jwt_rotate.set_defaults(func=cmd_jwt_rotate)

    receipt_key = admin_sub.add_parser("receipt-key", help="receipt-signing keys (published at the well-known URL)")
    receipt_key_sub = receipt_key.add_subparsers(dest="receipt_key_command", required=True)
    receipt_list = receipt_key_sub.add_parser("list", help="the published keys: active and retired")
    receipt_list.add_argument("--json", action="store_true")
    receipt_list.set_defaults(func=cmd_receipt_key_list)
    receipt_rotate = receipt_key_sub.add_parser("rotate", help="a new signing key; the old one stays published")
    receipt_rotate.set_defaults(func=cmd_receipt_key_rotate)
    receipt_revoke = receipt_key_sub.add_parser("revoke", help="stop publishing a retired key (one that leaked)")
    receipt_revoke.add_argument("kid")
    receipt_revoke.set_defaults(func=cmd_receipt_key_revoke)

    openapi = admin_sub.add_parser("openapi", help="write the gateway's OpenAPI document")
    openapi.add_argument("--out", default=None, help="default docs/api/openapi.json")
    openapi.set_defaults(func=cmd_openapi)
