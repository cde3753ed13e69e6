"""`dalrn audit verify`: check the gateway's audit log chain and signatures; exit 3 naming
each edited, deleted or reordered entry."""

from __future__ import annotations

import argparse

from dalrn_core.errors import IntegrityError


def cmd_verify(args: argparse.Namespace) -> int:
    from gateway.audit import audit_head, verify_log
    from gateway.db import open_database
    from gateway.settings import Settings

    _engine, sessions = open_database(Settings().database_url)
    with sessions() as session:
        findings = verify_log(session, args.public_key)
        seq, digest = audit_head(session)
    if findings:
        raise IntegrityError("audit log broken:\n" + "\n".join(f"  - {f}" for f in findings))
    print(f"audit log intact: {seq} entries, head {digest}")
    return 0


def register(sub) -> None:
    audit = sub.add_parser("audit", help="the gateway's audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain and signatures of every entry")
    verify.add_argument("--public-key", default=None, help="hex Ed25519 key (default: the host's audit key)")
    verify.set_defaults(func=cmd_verify)
