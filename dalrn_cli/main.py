"""The `dalrn` command line.

Bad input prints the rule it broke and exits 2; a failed integrity check exits 3; nothing
prints a traceback unless DALRN_DEBUG=1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dalrn_cli.environment import configure
from dalrn_cli.serve import GATEWAY_PORT, PREFECT_PORT, where_to_look
from dalrn_core.errors import InputError, IntegrityError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAMPLE_DISPUTE = EXAMPLES / "supply-contract.json"


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))


def cmd_resolve(args: argparse.Namespace) -> int:
    from dalrn_cli.index import ensure_index
    from dalrn_cli.resolve import load_as_tenant, print_summary, resolve

    # Validated before anything is stored; confidential items sealed on the tenant's side.
    dispute, texts = load_as_tenant(args.file)
    say = (lambda message: print(message, file=sys.stderr)) if args.json else print
    ensure_index(say)
    result = resolve(dispute, rule=args.rule, search=not args.no_search, say=say, texts=texts)
    if args.json:
        _emit(result, True)
    else:
        print_summary(result)
        if args.command == "demo":
            print("\n".join(where_to_look()))
    return 0


def cmd_negotiate(args: argparse.Namespace) -> int:
    from dalrn_core.negotiation.negotiate import negotiate_payload

    try:
        payload = json.loads(Path(args.file).read_text())
    except OSError as exc:
        raise InputError.one("file", f"cannot read {args.file}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError.one("file", f"not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise InputError.one("file", "must hold a JSON object")
    result = negotiate_payload(payload).to_json()
    if args.json:
        _emit(result, True)
    else:
        print(f"outcome {result['outcome']} by rule {result['rule']}; {len(result['equilibria'])} equilibria")
        print(f"selected: {result['selected']}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from dalrn_core.podp.verify import verify_dispute

    if args.api:  # keyless: only the operator's published keys and the chain are trusted
        from dalrn_cli.api_client import verify_public_proof

        for line in verify_public_proof(args.api, args.dispute_id, receipts_file=args.receipts, rpc=args.rpc,
                                        skip_chain=args.skip_chain):
            print(f"ok  {line}")
        return 0
    from dalrn_core.keys import keys_dir
    from dalrn_core.podp.signing import RECEIPT_KEY_FILE

    if not (keys_dir() / RECEIPT_KEY_FILE).exists():  # never make up a key to trust
        raise IntegrityError(f"no receipt-signing key in {keys_dir()}: on a machine other than the operator's, "
                             "verify the public proof with --api URL")
    client = store = None
    if args.chain:
        from blocks.chain import AnchorChain

        client = AnchorChain.load(args.chain).open_one()
    if args.store:
        from blocks.evidence_store import EvidenceStore

        store = EvidenceStore.load(args.store).open()
    report = verify_dispute(args.dispute_id, store=store, client=client)
    for line in report:
        print(f"ok  {line}")
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    from dalrn_cli.index import build_index_now

    cid = build_index_now(limit=args.limit, say=print)
    print(f"precedent index {cid}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from dalrn_cli.search import print_hits, search

    result = search(args.text, k=args.k, encrypted=args.encrypted)
    if args.json:
        _emit(result, True)
    else:
        print_hits(result)
    return 0


def cmd_soan_plot(args: argparse.Namespace) -> int:
    from dalrn_core.soan.plot import plot_current

    print(f"network picture written to {plot_current(Path(args.out))}")
    return 0


def cmd_soan_metrics(args: argparse.Namespace) -> int:
    from dalrn_cli.soan_metrics import serve_metrics

    return serve_metrics(args.port, refresh_s=args.refresh, duration_s=args.seconds)


def cmd_tenant_prepare(args: argparse.Namespace) -> int:
    from dalrn_cli.tenant import prepare

    say = (lambda message: print(message, file=sys.stderr)) if args.json else print
    answer = prepare(args.file, api=args.api, k=args.k, idempotency_key=args.idempotency_key, say=say)
    print(json.dumps(answer, indent=2) if args.json else answer["dispute_id"])
    return 0


def cmd_tenant_respond(args: argparse.Namespace) -> int:
    from dalrn_cli.tenant import respond

    say = (lambda message: print(message, file=sys.stderr)) if args.json else print
    chosen = respond(args.dispute_id, api=args.api, say=say)
    if args.json:
        _emit({"dispute_id": args.dispute_id, "precedents": chosen}, True)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from dalrn_cli.submit import submit

    answer = submit(args.file, api=args.api, idempotency_key=args.idempotency_key)
    print(json.dumps(answer, indent=2) if args.json else f"dispute {answer['dispute_id']}: {answer['status']}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from dalrn_cli.sides import split

    for path in split(args.file, args.out, opener=args.party):
        print(path)
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    from dalrn_cli.sides import join

    answer = join(args.dispute_id, args.file, api=args.api, tenant=args.tenant)
    waiting = ", ".join(answer["waiting_for"]) or "no one"
    print(json.dumps(answer, indent=2) if args.json else
          f"dispute {answer['dispute_id']}: party {answer['party']} joined ({answer['status']}; waiting for {waiting})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dalrn_cli.submit import print_status, status

    say = None if args.json or not args.wait else (lambda message: print(message, file=sys.stderr))
    answer = status(args.dispute_id, api=args.api, wait=args.wait, timeout_s=args.timeout, say=say)
    if args.json:
        _emit(answer, True)
    else:
        print_status(answer)
    return 0 if answer.get("status") != "failed" else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from dalrn_cli.serve import serve

    return serve(port=args.port, prefect_port=args.prefect_port, backend=args.backend,
                 prefect_workers=args.prefect_workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dalrn", description="DALRN dispute resolution network")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="resolve the sample dispute end to end")
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.add_argument("--rule", default="nsw", choices=["nsw", "egalitarian", "kalai_smorodinsky", "utilitarian"])
    demo.add_argument("--no-search", action="store_true", help="skip the encrypted precedent search")
    demo.set_defaults(func=cmd_resolve, file=str(SAMPLE_DISPUTE))

    resolve = sub.add_parser("resolve", help="resolve a dispute from a JSON file")
    resolve.add_argument("file")
    resolve.add_argument("--json", action="store_true", help="print one JSON object")
    resolve.add_argument("--rule", default="nsw", choices=["nsw", "egalitarian", "kalai_smorodinsky", "utilitarian"])
    resolve.add_argument("--no-search", action="store_true", help="skip the encrypted precedent search")
    resolve.set_defaults(func=cmd_resolve)

    negotiate = sub.add_parser("negotiate", help="equilibria and settlement of a bimatrix game file")
    negotiate.add_argument("file")
    negotiate.add_argument("--json", action="store_true")
    negotiate.set_defaults(func=cmd_negotiate)

    receipts = sub.add_parser("receipts", help="proof-of-due-process receipts")
    receipts_sub = receipts.add_subparsers(dest="receipts_command", required=True)
    verify = receipts_sub.add_parser("verify", help="check a dispute's receipts, proof and anchor")
    verify.add_argument("dispute_id")
    verify.add_argument("--chain", help="AnchorChain block to check the root on (default: embedded)")
    verify.add_argument("--store", help="EvidenceStore block to read receipts from (default: local)")
    verify.add_argument("--api", help="gateway URL: verify the public proof with this ID (its proof id), no key needed")
    verify.add_argument("--receipts", help="with --api: JSON file of the receipts, to check their signatures")
    verify.add_argument("--rpc", help="with --api: JSON-RPC URL of the chain the root is anchored on")
    verify.add_argument("--skip-chain", action="store_true", help="with --api: do not check the root on chain")
    verify.set_defaults(func=cmd_verify)

    index = sub.add_parser("index", help="the precedent index")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    build = index_sub.add_parser("build", help="embed the precedent corpus and build the FAISS index")
    build.add_argument("--limit", type=int, default=None, help="index only the first N paragraphs")
    build.set_defaults(func=cmd_index_build)

    search = sub.add_parser("search", help="nearest precedents of a text")
    search.add_argument("text")
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--encrypted", action="store_true", help="score under the tenant's CKKS key")
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)

    soan = sub.add_parser("soan", help="the mediator agent network")
    soan_sub = soan.add_subparsers(dest="soan_command", required=True)
    plot = soan_sub.add_parser("plot", help="draw the live network (colour: utilisation, size: queue)")
    plot.add_argument("--out", default="soan-network.png")
    plot.set_defaults(func=cmd_soan_plot)
    metrics = soan_sub.add_parser("metrics", help="serve per-agent Prometheus metrics on loopback")
    metrics.add_argument("--port", type=int, default=9108)
    metrics.add_argument("--refresh", type=float, default=15.0, help="seconds between refreshes")
    metrics.add_argument("--seconds", type=float, default=None, help="stop after this long")
    metrics.set_defaults(func=cmd_soan_metrics)

    tenant = sub.add_parser("tenant", help="the tenant's side of an encrypted precedent search, via the gateway "
                            "(DALRN_API_KEY=KEY_ID:SECRET)")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    prepare = tenant_sub.add_parser("prepare", help="encrypt the dispute's precedent query with your own key, "
                                    "upload the public bytes and submit the dispute; prints its id")
    prepare.add_argument("file")
    prepare.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    prepare.add_argument("--k", type=int, default=5, help="precedents to reveal")
    prepare.add_argument("--idempotency-key", help="default: derived from the dispute, so a retry starts nothing new")
    prepare.add_argument("--json", action="store_true", help="print the gateway's answer and the search sent")
    prepare.set_defaults(func=cmd_tenant_prepare)
    respond = tenant_sub.add_parser("respond", help="decrypt a paused dispute's encrypted scores locally and "
                                    "reveal the top k")
    respond.add_argument("dispute_id")
    respond.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    respond.add_argument("--json", action="store_true", help="print the revealed precedents")
    respond.set_defaults(func=cmd_tenant_respond)

    submit = sub.add_parser("submit", help="send a dispute to the gateway (DALRN_API_KEY=KEY_ID:SECRET)")
    submit.add_argument("file")
    submit.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    submit.add_argument("--idempotency-key", help="default: SHA-256 of the dispute, so a retry starts nothing new")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(func=cmd_submit)

    split = sub.add_parser("split", help="split a joint dispute into the opener's file and each other party's side")
    split.add_argument("file")
    split.add_argument("--out", required=True, help="folder for <id>.opening.json and <id>.<party>.side.json")
    split.add_argument("--party", help="the opener's party (default: the party naming the dispute's tenant)")
    split.set_defaults(func=cmd_split)

    join = sub.add_parser("join", help="file your own side of a joint dispute (DALRN_API_KEY=KEY_ID:SECRET)")
    join.add_argument("dispute_id")
    join.add_argument("file", help="your side (as dalrn split writes it); its salt is made and kept here")
    join.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    join.add_argument("--tenant", help="the opener's tenant, when several visible disputes share the id")
    join.add_argument("--json", action="store_true")
    join.set_defaults(func=cmd_join)

    status = sub.add_parser("status", help="a submitted dispute's status from the gateway")
    status.add_argument("dispute_id")
    status.add_argument("--api", help="gateway URL (default: $DALRN_API_URL)")
    status.add_argument("--wait", action="store_true", help="poll until anchored, failed or rejected")
    status.add_argument("--timeout", type=float, default=900.0, help="seconds --wait waits at most")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    serve = sub.add_parser("serve", help="start Prefect (closed by its auth string), the gateway and the deployments")
    serve.add_argument("--port", type=int, default=GATEWAY_PORT, help="the gateway's port on 127.0.0.1")
    serve.add_argument("--prefect-port", type=int, default=PREFECT_PORT,
                       help="the Prefect server's port on 127.0.0.1")
    serve.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite",
                       help="sqlite: embedded (SQLite, in-process limits); postgres: Prefect and the gateway on "
                            "PostgreSQL and Redis, started under the data folder unless already configured")
    serve.add_argument("--prefect-workers", type=int, default=1,
                       help="Prefect API processes (more than 1 needs --backend postgres; services then run apart)")
    serve.set_defaults(func=cmd_serve)

    from dalrn_cli import admin, audit, evidence
    from dalrn_cli import load as load_generator
    from dalrn_cli import worker as dispute_worker

    admin.register(sub)
    audit.register(sub)
    evidence.register(sub)
    dispute_worker.register(sub)
    load_generator.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dalrn_core.redact import redact, redact_logs, redacted_error

    args = build_parser().parse_args(argv)
    configure(quiet=True)
    redact_logs()  # this process's log lines (the server's, a worker's, the CLI's) quote no secret
    try:
        return args.func(args)
    except InputError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except IntegrityError as exc:
        print(f"verification failed: {redact(str(exc))}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (say `| head`) went away: not an error of ours
        return 0
    except Exception as exc:  # the last line of defence: a message, not a traceback
        if os.environ.get("DALRN_DEBUG"):
            raise
        print(f"error: {redacted_error(exc, limit=2000)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
