"""Sizing for 1M disputes a day, from the measured CPU seconds per dispute of each tier.

Reads the committed throughput result (benchmarks/results/throughput.json: its encrypted
row on PostgreSQL + Redis with two workers) and says per tier how many cores 1M disputes
a day (11.6 a second, sustained) need at 60% utilisation, how many processes that is, how
the tier grows and what gives out first. It measures nothing itself: rerun `throughput`
first (`make bench` runs this area after it). CPU seconds measured on a saturated 2-core
machine include the cost of contention, so the cores are an upper estimate.

Each tier's processes are single event loops (Python's GIL): one process uses at most
about one core, so processes = cores rounded up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PER_DAY = 1_000_000
UTILISATION = 0.6  # headroom for bursts and for a process lost
PARAMETERS = {"disputes_per_day": PER_DAY, "utilisation": UTILISATION}

TIERS = [  # (tier, key in the throughput row, runs where, how it scales, what saturates first)
    ("dispute workers", "cpu_worker_s", "worker machines",
     "more `dalrn worker` processes on the Redis consumer group",
     "one core per process (one event loop); encrypted scoring is its largest stage"),
    ("gateway", "cpu_gateway_s", "gateway machines",
     "more gateway processes behind a load balancer (state is in PostgreSQL and Redis)",
     "one core per process; every read writes an audit entry"),
    ("Prefect server", "cpu_prefect_server_s", "Prefect API machines",
     "`--prefect-workers N` API processes, plus one services process",
     "the services process (task-run recorder, event persister), one process in `dalrn serve`"),
    ("PostgreSQL", "cpu_postgresql_s", "one primary",
     "a bigger primary (writes cannot be spread); read replicas do not help the writes",
     "write volume: every task-run state and event is a row"),
    ("Redis", "cpu_redis_s", "one primary",
     "a bigger instance", "far from it: well under a core"),
    ("tenants (the firms' side)", "cpu_tenants_s", "the firms' own machines, not DALRN's",
     "each firm's own", "not DALRN's to size"),
]


def _encrypted_row(throughput: dict) -> dict:
    rows = [r for r in throughput["rows"] if r.get("prefect_db") == "postgresql" and r.get("workers") == 2
            and r.get("search") == "encrypted" and not r.get("check")]
    if not rows:
        raise ValueError("throughput.json has no encrypted row on PostgreSQL with 2 workers")
    return rows[0]


def run(quick: bool = False, results: Path = RESULTS) -> list[dict]:
    throughput = json.loads((results / "throughput.json").read_text())
    row = _encrypted_row(throughput)
    rate = PER_DAY / 86_400
    source = f"throughput.json ({'quick' if throughput['quick'] else 'full'} run, {throughput['date'][:10]})"
    out = []
    for tier, key, where, scales_by, saturates in TIERS:
        cpu = row.get(key)
        cores = None if cpu is None else round(cpu * rate / UTILISATION, 1)
        out.append({"tier": tier, "cpu_s_per_dispute": cpu, "cores_for_1m_per_day": cores,
                    "processes": None if cores is None else max(1, math.ceil(cores)),
                    "runs_on": where, "scales_by": scales_by, "saturates_first": saturates, "from": source})
    return out
