"""Every DALRN deployment, served by one process (the embedded default; production uses
the work pools in prefect.yaml). Names and schedules match prefect.yaml.

Before serving, the runs' durability is set up in the environment the served runs inherit:
flow heartbeats every `HEARTBEAT_S` seconds (so `dispute-reconcile` tells a dead run from a
slow one within three missed beats) and persisted task and flow results on a result storage
block: the one `PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK` names (shared storage in production,
e.g. a `remote-file-system` or `s3-bucket` block that every worker reaches), else a
`LocalFileSystem` block `dalrn-results` in the data folder, created here.
"""

from __future__ import annotations

import importlib
import os

from prefect import serve
from prefect.schedules import Cron, Interval

from dalrn_core.config import data_dir

HEARTBEAT_S = 30  # Prefect's minimum; its default is 180
RESULT_STORAGE_SETTING = "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"
LOCAL_RESULT_BLOCK = "dalrn-results"

# (module, flow function, deployment name, schedule or None)
DEPLOYMENTS = [
    ("flows.dispute_resolution", "dispute_resolution", "dispute-resolution", None),
    ("flows.build_index", "build_index", "build-index", None),
    ("flows.anchor_batches", "anchor_batches", "anchor-batches", Interval(300)),
    ("flows.soan_rewire", "soan_rewire", "soan-rewire", Interval(900)),
    ("flows.fl_nightly", "fl_nightly", "fl-nightly", Cron("0 2 * * *", timezone="Europe/London")),
    ("flows.reconcile", "dispute_reconcile", "dispute-reconcile", Interval(60)),
]


def deployments(only: list[str] | None = None) -> list:
    out = []
    for module_name, function, name, schedule in DEPLOYMENTS:
        if only and name not in only:
            continue
        flow = getattr(importlib.import_module(module_name), function)
        out.append(flow.to_deployment(name=name, schedules=[schedule] if schedule else None))
    return out


def result_storage() -> str:
    """The slug of the block served runs persist results to (creating the local default)."""
    configured = os.environ.get(RESULT_STORAGE_SETTING)
    if configured:
        return configured
    from prefect.filesystems import LocalFileSystem

    folder = data_dir() / "prefect" / "storage"
    folder.mkdir(parents=True, exist_ok=True)
    LocalFileSystem(basepath=str(folder)).save(LOCAL_RESULT_BLOCK, overwrite=True)
    return f"local-file-system/{LOCAL_RESULT_BLOCK}"


def durable_runs_environment() -> dict[str, str]:
    """Heartbeats on and results on the storage block, for the runs this process starts."""
    settings = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY",
                                                                   str(HEARTBEAT_S)),
                RESULT_STORAGE_SETTING: result_storage()}
    os.environ.update(settings)
    return settings


def serve_all(only: list[str] | None = None) -> None:
    durable_runs_environment()
    serve(*deployments(only), print_starting_message=True)


if __name__ == "__main__":
    import sys

    serve_all(sys.argv[1:] or None)
