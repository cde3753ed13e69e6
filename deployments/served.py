"""Every DALRN deployment, served by one process (the embedded default; production uses
the work pools in prefect.yaml). Names and schedules match prefect.yaml."""

from __future__ import annotations

import importlib

from prefect import serve
from prefect.schedules import Cron, Interval

# (module, flow function, deployment name, schedule or None)
DEPLOYMENTS = [
    ("flows.dispute_resolution", "dispute_resolution", "dispute-resolution", None),
    ("flows.build_index", "build_index", "build-index", None),
    ("flows.anchor_batches", "anchor_batches", "anchor-batches", Interval(300)),
    ("flows.soan_rewire", "soan_rewire", "soan-rewire", Interval(900)),
    ("flows.fl_nightly", "fl_nightly", "fl-nightly", Cron("0 2 * * *", timezone="Europe/London")),
]


def deployments(only: list[str] | None = None) -> list:
    out = []
    for module_name, function, name, schedule in DEPLOYMENTS:
        if only and name not in only:
            continue
        flow = getattr(importlib.import_module(module_name), function)
        out.append(flow.to_deployment(name=name, schedules=[schedule] if schedule else None))
    return out


def serve_all(only: list[str] | None = None) -> None:
    serve(*deployments(only), print_starting_message=True)


if __name__ == "__main__":
    import sys

    serve_all(sys.argv[1:] or None)
