"""`dalrn load`: a bounded load generator on loopback, through the gateway only.

It creates `--tenants` tenants with the operator's admin key (`DALRN_API_KEY`), starts one
process per tenant, and each plays its tenant's side of every dispute it was given: it
encrypts its precedent query with its own CKKS key (its own tenant folder; `--plain`: no
search), submits the dispute at its scheduled instant (together `--rate` disputes a second
for `--duration` seconds), answers the paused search (reads the encrypted scores, decrypts
them in its process, reveals the top k) and follows the dispute to `anchored` with long polls
(`GET /v1/disputes/{id}?changed_from=<status>&wait_s=20`: one read per change of status).

Latencies come from the gateway's own timestamps (`submitted_at`, `resolved_at`,
`anchored_at`, one server clock), so how the tenants poll does not enter them. The CPU
seconds per dispute are read around the run: each worker's own figure (it reports it in
Redis), the per-stage seconds the workers add up there, the Prefect server's, the
gateway's, Redis's and (with `--database`) PostgreSQL's processes (found by the port they
listen on), and the tenant processes' own (they share this machine with the service).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dalrn_cli.load_meter import Meter, per_dispute
from dalrn_core.errors import InputError

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "supply-contract.json"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_DISPUTES = 20_000  # rate x duration beyond this is not a loopback test any more
FINAL = ("anchored", "failed", "rejected")
WAIT_S = 20  # each status read waits this long on the gateway for a change (a long poll)


def _instant(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def dispute_body(dispute_id: str, number: int) -> dict[str, Any]:
    """The sample dispute under its own id, its first evidence text made its own (no cache hit by luck)."""
    body = json.loads(SAMPLE.read_text())
    body.pop("tenant", None)
    body["id"] = dispute_id
    body["evidence"][0]["text"] += f" Case reference {number}."
    return body


class _Tenant:
    """One tenant's side, in its own process: its key, its token, its disputes."""

    def __init__(self, api: str, issued: dict[str, str], plain: bool, poll_s: float, timeout_s: float) -> None:
        from dalrn_cli.api_client import GatewayClient, GatewayContent

        self.client = GatewayClient(api, (issued["key_id"], issued["api_key"]), timeout_s=60.0)
        self.content = GatewayContent(self.client)
        self.tenant = issued["tenant"]
        self.plain, self.poll_s, self.timeout_s = plain, poll_s, timeout_s
        self.keys = self.context_cid = None
        self.sent: dict[str, bytes] = {}  # each dispute's encrypted query, as this tenant sent it
        if not plain:
            from dalrn_core.search.tenant_query import query_vector, tenant_keys

            self.keys = tenant_keys(self.tenant)
            self.context_cid = self.content.put(self.keys.public_context(), "public context")
            query_vector(["warm up"])  # the tenant's own MiniLM, loaded before the clock runs

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A gateway call; a 429 waits for its Retry-After and tries again."""
        from dalrn_cli.api_client import GatewayError

        for _ in range(20):
            try:
                return self.client.request(method, path, **kwargs)
            except GatewayError as exc:
                if exc.status_code != 429:
                    raise
                time.sleep(1.0)
        raise RuntimeError(f"{method} {path}: still rate limited after 20 tries")

    def play(self, dispute_id: str, number: int) -> dict[str, Any]:
        """Submit one dispute, answer its search, follow it to a final status."""
        out: dict[str, Any] = {"dispute_id": dispute_id, "tenant": self.tenant}
        try:
            body = dispute_body(dispute_id, number)
            if not self.plain:
                from dalrn_core.search.tenant_query import query_vector

                texts = [e["text"] for e in body["evidence"]]
                self.sent[dispute_id] = self.keys.encrypt_query(query_vector(texts))
                query_cid = self.content.put(self.sent[dispute_id], "encrypted query")
                body["precedent_search"] = {"context_cid": self.context_cid, "query_cid": query_cid, "k": 3,
                                            "key_id": self.keys.key_id}
            self.request("POST", "/v1/disputes", json=body, headers={"Idempotency-Key": dispute_id}, ok=(202,))
            deadline, revealed = time.monotonic() + self.timeout_s, False
            view: dict[str, Any] = self.request("GET", f"/v1/disputes/{dispute_id}").json()
            while time.monotonic() < deadline:
                if view["status"] == "awaiting_tenant" and not revealed:
                    self.reveal(dispute_id)
                    revealed = True
                if view["status"] in FINAL:
                    break
                # A long poll: the gateway answers when the status moves on (or after WAIT_S).
                seen = view["status"]
                view = self.request("GET", f"/v1/disputes/{dispute_id}",
                                    params={"changed_from": seen, "wait_s": WAIT_S}).json()
                if view["status"] == seen:
                    time.sleep(self.poll_s)  # the wait ran out (or a gateway that does not wait)
            out.update(status=view.get("status"), submitted_at=view.get("submitted_at"),
                       resolved_at=view.get("resolved_at"), anchored_at=view.get("anchored_at"))
            if view.get("status") != "anchored":
                out["error"] = f"ended {view.get('status')}: {view.get('message')}"
        except Exception as exc:  # noqa: BLE001 - every failure of a dispute is counted, none stops the run
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out

    def reveal(self, dispute_id: str) -> None:
        from dalrn_core.search.tenant_query import reveal_precedents

        search = self.request("GET", f"/v1/disputes/{dispute_id}/search").json()
        chosen = reveal_precedents(self.tenant, search["score_cids"], search["precedent_ids"], self.content,
                                   search["k"], keys=self.keys)
        self.request("POST", f"/v1/disputes/{dispute_id}/reveal", json={"precedents": chosen}, ok=(202,))


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tenant_side() -> int:
    """A tenant's process (`python -m dalrn_cli.load`): its own folder and key; its share of the plan on time.

    Reads its job (JSON) from stdin, says `ready` on stdout, waits for `go START` on stdin,
    writes one JSON object on stdout: its disputes' `outcomes` and the CPU seconds it spent
    playing them (`cpu_s`, from the start instant on: its key and model are ready before).
    """
    job = json.loads(sys.stdin.readline())
    issued, plan = job["issued"], job["plan"]
    os.environ["DALRN_TENANT_HOME"] = tempfile.mkdtemp(prefix=f"dalrn-load-{issued['tenant']}-")
    try:
        tenant = _Tenant(job["api"], issued, job["plain"], job["poll_s"], job["timeout_s"])
    except Exception as exc:  # noqa: BLE001 - reported; the tenant's disputes count as errors
        print(json.dumps({"ready": False, "problem": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    start_at = float(sys.stdin.readline().split()[1])
    while time.time() < start_at:
        time.sleep(0.01)
    cpu_at_start = _own_cpu_s()
    with ThreadPoolExecutor(max_workers=64) as pool:
        futures = []
        for offset, dispute_id, number in plan:
            delay = start_at + offset - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(tenant.play, dispute_id, number))
        outcomes = [f.result() for f in futures]
    print(json.dumps({"outcomes": outcomes, "cpu_s": round(_own_cpu_s() - cpu_at_start, 3)}), flush=True)
    return 0


def _percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 3)


def run_load(api: str, *, rate: float, duration: float, tenants: int = 2, plain: bool = False,
             admin_key: tuple[str, str] | None = None, issued: list[dict[str, str]] | None = None,
             redis_url: str | None = None, database_url: str | None = None, poll_s: float = 1.0,
             timeout_s: float = 300.0,
             say=lambda message: print(message, file=sys.stderr, flush=True)) -> dict[str, Any]:
    """Run the load and return its summary (see the module docstring)."""
    host = urlparse(api).hostname
    if host not in LOOPBACK:
        raise InputError.one("api", f"must be a loopback URL (127.0.0.1, localhost, ::1), not {host!r}")
    if not 0 < rate <= 100:
        raise InputError.one("rate", "must be above 0 and at most 100 disputes a second")
    if not 0 < duration <= 3600:
        raise InputError.one("duration", "must be above 0 and at most 3600 seconds")
    if not 1 <= tenants <= 32:
        raise InputError.one("tenants", "must be between 1 and 32")
    total = max(1, round(rate * duration))
    if total > MAX_DISPUTES:
        raise InputError.one("rate", f"rate x duration is {total} disputes, more than {MAX_DISPUTES}")
    run_tag = uuid.uuid4().hex[:8]
    if issued is None:
        issued = _create_tenants(api, admin_key, tenants, run_tag)
    plans: list[list[tuple[float, str, int]]] = [[] for _ in issued]
    for n in range(total):
        plans[n % len(issued)].append((n / rate, f"load-{run_tag}-{n:05d}", n))
    meter = Meter(api, redis_url, database_url)
    say(f"load {run_tag}: {total} disputes at {rate}/s for {duration} s from {len(issued)} tenant processes"
        f"{' (plain, no encrypted search)' if plain else ' with encrypted search'}")
    # Tenants make their keys and load their model first; then one start instant for all.
    processes = [subprocess.Popen([sys.executable, "-m", "dalrn_cli.load"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in issued]
    for process, tenant, plan in zip(processes, issued, plans, strict=True):
        process.stdin.write(json.dumps({"api": api, "issued": tenant, "plan": plan, "plain": plain,
                                        "poll_s": poll_s, "timeout_s": timeout_s}) + "\n")
        process.stdin.flush()
    for process, tenant in zip(processes, issued, strict=True):
        answer = json.loads(process.stdout.readline() or '{"ready": false, "problem": "exited"}')
        if not answer["ready"]:
            say(f"tenant {tenant['tenant']} could not start: {answer.get('problem')}")
    start_at = time.time() + 1.0
    for process in processes:
        with contextlib.suppress(OSError):
            process.stdin.write(f"go {start_at}\n")
            process.stdin.flush()
    say(f"load {run_tag}: every tenant ready; submitting")
    before = meter.read()
    backlog_max = 0
    gathered: list[dict[str, Any]] = []
    outcomes: queue.Queue[dict[str, Any]] = queue.Queue()
    tenants_cpu_s = 0.0

    def collect(process: subprocess.Popen) -> None:
        line = process.stdout.readline()
        outcomes.put(json.loads(line) if line.strip() else {"outcomes": [], "cpu_s": 0.0})

    collectors = [threading.Thread(target=collect, args=(p,), daemon=True) for p in processes]
    for thread in collectors:
        thread.start()
    deadline, answered = start_at + duration + timeout_s + 60, 0
    while answered < len(processes) and time.time() < deadline:
        try:
            played = outcomes.get(timeout=2.0)
            gathered.extend(played["outcomes"])
            tenants_cpu_s += played["cpu_s"]
            answered += 1
        except queue.Empty:  # no tenant finished yet
            pass
        depth = meter.backlog()
        if depth is not None:
            backlog_max = max(backlog_max, depth["waiting"])
        say(f"load {run_tag}: {answered}/{len(processes)} tenants done, {time.time() - start_at:.0f} s since start"
            + (f", queue {depth}" if depth else ""))
    after = meter.read()
    for process in processes:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
    after["cpu"]["tenants"] = tenants_cpu_s  # the tenants' side, played on this machine too
    before["cpu"]["tenants"] = 0.0
    return summarize(gathered, total, start_at, before, after, backlog_max, rate=rate, duration=duration,
                     plain=plain, tenants=len(issued))


def summarize(records: list[dict[str, Any]], total: int, start_at: float, before: dict, after: dict,
              backlog_max: int, **setup: Any) -> dict[str, Any]:
    ok = [r for r in records if not r.get("error")]
    resolved = [(_instant(r["resolved_at"]) or 0) - (_instant(r["submitted_at"]) or 0) for r in ok
                if r.get("resolved_at")]
    anchored = [(_instant(r["anchored_at"]) or 0) - (_instant(r["submitted_at"]) or 0) for r in ok
                if r.get("anchored_at")]
    ends = [_instant(r["resolved_at"]) for r in ok if r.get("resolved_at")]
    starts = [_instant(r["submitted_at"]) for r in ok if r.get("submitted_at")]
    span = (max(e for e in ends if e) - min(s for s in starts if s)) if ends and starts else 0.0
    cpu, stages = per_dispute(before, after, len(ok))
    # One server clock: submitted <= resolved <= anchored, or the gateway reports nonsense.
    moments = [[_instant(r.get(k)) for k in ("submitted_at", "resolved_at", "anchored_at")] for r in ok]
    out_of_order = sum(1 for m in moments if [t for t in m if t is not None] != sorted(t for t in m if t is not None))
    errors = [r for r in records if r.get("error")] + [{"error": "no result"}] * (total - len(records))
    return {
        **setup,
        "disputes": total,
        "resolved": len(resolved),
        "resolved_per_s": round(len(resolved) / span, 3) if span > 0 else None,
        "p50_resolved_s": _percentile(resolved, 50),
        "p95_resolved_s": _percentile(resolved, 95),
        "p99_resolved_s": _percentile(resolved, 99),
        "p95_anchored_s": _percentile(anchored, 95),
        "errors": len(errors),
        "error_samples": sorted({e["error"][:200] for e in errors})[:5],
        "backlog_max": backlog_max,
        "out_of_order": out_of_order,
        "cpu_s_per_dispute": cpu,
        "prefect_server_cpu_s_per_dispute": cpu.get("prefect_server"),
        "worker_stage_s_per_dispute": stages,
    }


def _create_tenants(api: str, admin_key: tuple[str, str] | None, count: int, run_tag: str) -> list[dict[str, str]]:
    """`count` party tenants for this run, made through the admin API."""
    from dalrn_cli.api_client import GatewayClient, api_key_from_env

    with GatewayClient(api, admin_key or api_key_from_env()) as admin:
        made = []
        for i in range(count):
            name = f"load-{run_tag}-t{i + 1}"
            answer = admin.request("POST", "/v1/admin/tenants", json={"name": name, "role": "party"},
                                   ok=(201,)).json()
            made.append({"tenant": name, "key_id": answer["key_id"], "api_key": answer["api_key"]})
    return made


def cmd_load(args: argparse.Namespace) -> int:
    summary = run_load(args.api, rate=args.rate, duration=args.duration, tenants=args.tenants, plain=args.plain,
                       redis_url=args.redis or os.environ.get("DALRN_QUEUE_URL"), database_url=args.database,
                       poll_s=args.poll,
                       timeout_s=args.timeout)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['resolved']}/{summary['disputes']} resolved, {summary['resolved_per_s']}/s, "
              f"P95 {summary['p95_resolved_s']} s, errors {summary['errors']}")
    return 0 if summary["errors"] == 0 else 1


def register(sub: Any) -> None:
    load = sub.add_parser("load", help="loopback load: tenants submit disputes through the gateway (admin key in "
                                       "DALRN_API_KEY creates them) and play their side; prints latencies")
    load.add_argument("--api", required=True, help="the gateway's URL (loopback only)")
    load.add_argument("--rate", type=float, required=True, help="disputes submitted per second")
    load.add_argument("--duration", type=float, required=True, help="seconds of submissions")
    load.add_argument("--tenants", type=int, default=2, help="tenant processes (default 2)")
    load.add_argument("--plain", action="store_true", help="no encrypted precedent search")
    load.add_argument("--redis", help="the queue's Redis, for the workers' CPU and the backlog "
                                      "(default DALRN_QUEUE_URL)")
    load.add_argument("--database", help="the stack's PostgreSQL URL, for its CPU (its password is not needed)")
    load.add_argument("--poll", type=float, default=1.0,
                      help="seconds before reading again when a long poll ended with no change (default 1)")
    load.add_argument("--timeout", type=float, default=300.0, help="seconds one dispute may take (default 300)")
    load.add_argument("--json", action="store_true")
    load.set_defaults(func=cmd_load)


if __name__ == "__main__":
    from dalrn_cli.environment import configure

    configure(quiet=True)
    raise SystemExit(tenant_side())
