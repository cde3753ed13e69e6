"""`dalrn audit verify`: check the gateway's audit log chain and signatures, and the log
against the head the last receipt batch anchored; exit 3 naming each edited, deleted or
reordered entry. `dalrn audit anchor`: queue the current head for the next batch now.

Both run on the server host, against the gateway database and the data folder.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dalrn_core.errors import IntegrityError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dalrn_core.chain.anchor import AnchorClient


def _session() -> Session:
    from gateway.db import open_database
    from gateway.settings import Settings

    _engine, sessions = open_database(Settings().database_url)
    return sessions()


def _connect(args: argparse.Namespace) -> Callable[[], AnchorClient] | None:
    """How to open the chain client the anchored root is checked on (None: not checked)."""
    if args.skip_chain:
        return None
    if args.chain:
        from blocks.chain import AnchorChain

        block: Any = AnchorChain.load(args.chain)  # Prefect's sync/async dual loader types as either
        return lambda: block.open_one()
    from dalrn_core.chain.local import open_embedded_anchor

    return open_embedded_anchor


def cmd_verify(args: argparse.Namespace) -> int:
    from gateway.audit import audit_head, check_anchored_head, last_queued, verify_log

    with _session() as session:
        findings = verify_log(session, args.public_key)
        seq, digest = audit_head(session)
        anchored = check_anchored_head(session, _connect(args))
        queued = last_queued(session)
    if anchored is not None:
        findings += anchored.findings
    if findings:
        raise IntegrityError("audit log broken:\n" + "\n".join(f"  - {f}" for f in findings))
    print(f"audit log intact: {seq} entries, head {digest}")
    if anchored is None:
        pending = f" (entry {queued.seq} is queued for the next batch)" if queued is not None else ""
        print(f"no audit head anchored yet{pending}: a cut-off tail is not detectable before one is")
        return 0
    print(f"anchored head: entry {anchored.seq} ({anchored.hash}) under root {anchored.anchor['root']}, "
          f"{anchored.transaction}")
    for line in anchored.held:
        print(f"ok  {line}")
    if args.skip_chain:
        print("ok  root on chain NOT checked (--skip-chain)")
    if queued is not None and queued.seq > anchored.seq:
        print(f"entry {queued.seq} is queued for the next batch")
    return 0


def cmd_anchor(args: argparse.Namespace) -> int:
    from gateway.audit import audit_head, queue_head

    with _session() as session:
        queued = queue_head(session)
        seq, _digest = audit_head(session)
    if queued is None:
        print(f"head entry {seq} is queued already (or the log is empty): nothing to do")
    else:
        print(f"queued head entry {queued.seq} ({queued.hash}) for the next receipt batch as {queued.statement_cid}")
    return 0


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the gateway's audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check every entry's hash chain and signature, and the "
                                                 "anchored head")
    verify.add_argument("--public-key", default=None, help="hex Ed25519 key (default: the host's audit key)")
    verify.add_argument("--chain", help="AnchorChain block the head was anchored on (default: embedded)")
    verify.add_argument("--skip-chain", action="store_true", help="do not check the anchored root on chain")
    verify.set_defaults(func=cmd_verify)
    anchor = audit_sub.add_parser("anchor", help="queue the current head for the next receipt batch now")
    anchor.set_defaults(func=cmd_anchor)
