"""`dalrn load`'s meter: CPU seconds of the stack's processes around a load run.

The gateway's and Prefect server's process trees are read from /proc (on loopback they run
on this machine); each dispute worker reports its own CPU and per-stage seconds in Redis
(`dalrn:workers`, `dalrn:stats`). Two readings, before and after, give CPU per dispute.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any
from urllib.parse import urlparse

# -- CPU of the server's processes, from /proc (loopback: they run on this machine) ------------

def _listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` (IPv4 or IPv6), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
    return None


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants, the live ones and those that
    ended (PostgreSQL's backends end with their connections)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for name in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError), open(f"/proc/{name}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(name))
            stats[int(name)] = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def _port_of(url: str | None) -> int | None:
    if not url:
        return None
    parsed = urlparse(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


class Meter:
    """CPU seconds of the server side and the workers' stage seconds, read twice around the run."""

    def __init__(self, api: str, redis_url: str | None, database_url: str | None = None) -> None:
        self.redis = self.queue = None
        if redis_url:
            from dalrn_core.queue import DisputeQueue

            self.queue = DisputeQueue(redis_url)
            self.redis = self.queue.client
        self.pids = {role: _listening_pid(port) for role, port in
                     (("gateway", _port_of(api)), ("prefect_server", _port_of(os.environ.get("PREFECT_API_URL"))),
                      ("postgresql", _port_of(database_url) if database_url else None))
                     if port is not None}

    def read(self) -> dict[str, Any]:
        cpu = {role: _tree_cpu_s(pid) for role, pid in self.pids.items() if pid is not None}
        stages: dict[str, float] = {}
        worker_cpu: dict[str, float] = {}
        disputes = 0
        if self.redis is not None:
            from dalrn_cli.worker import STATS, WORKERS

            # Per process: a worker restarted under the same consumer name starts again from
            # zero CPU, so a total over consumer names could shrink between two readings.
            for consumer, value in self.redis.hgetall(WORKERS).items():
                report = json.loads(value)
                worker_cpu[f"{consumer.decode()}:{report['pid']}"] = float(report["cpu_s"])
            info = self.redis.info("cpu")
            cpu["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
            for key, value in self.redis.hgetall(STATS).items():
                name = key.decode()
                if name.startswith("stage_s:"):
                    stages[name[8:]] = float(value)
                elif name == "disputes":
                    disputes = int(value)
        return {"cpu": cpu, "worker_cpu": worker_cpu, "stages": stages, "disputes": disputes, "at": time.monotonic()}

    def backlog(self) -> dict[str, int] | None:
        return None if self.queue is None else self.queue.depth()


def per_dispute(before: dict[str, Any], after: dict[str, Any], count: int) -> tuple[dict, dict]:
    if count <= 0:
        return {}, {}
    cpu = {k: round((after["cpu"].get(k, 0.0) - v) / count, 3) for k, v in before["cpu"].items()}
    if after.get("worker_cpu"):
        # A process first seen after `before` counts from zero; one replaced since (its report
        # overwritten by its successor's) adds nothing more than it had reported.
        spent = sum(max(v - before.get("worker_cpu", {}).get(k, 0.0), 0.0) for k, v in after["worker_cpu"].items())
        cpu["workers"] = round(spent / count, 3)
    done = max(after["disputes"] - before["disputes"], 1)
    stages = {k: round((v - before["stages"].get(k, 0.0)) / done, 3) for k, v in after["stages"].items()}
    return cpu, stages
