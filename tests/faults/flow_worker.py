"""The process the kill tests kill: it resolves, one after another, every dispute accepted
in FOLDER/accepted/ that has no FOLDER/done/ entry, each as a `dispute-resolution` flow run
called in this process (the embedded default path), then exits.

Started again after a kill, it takes up the dispute it was killed in as a new run of the
same dispute, which is what a reconcile pass does for an accepted dispute with no live
run; the flow's once-per-step receipts and recorded anchoring make that a resumption.
`python -m tests.faults.flow_worker FOLDER`; it prints `start ID` / `done ID` as it goes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


def main(folder: Path) -> int:
    from dalrn_core.durable import write_json_durably
    from flows.dispute_resolution import dispute_resolution

    print("ready", flush=True)
    for path in sorted((folder / "accepted").glob("*.json")):
        done = folder / "done" / path.name
        if done.exists():
            continue
        dispute = json.loads(path.read_text())
        print(f"start {dispute['id']}", flush=True)
        result = asyncio.run(dispute_resolution(dispute=dispute, tenant_wait_seconds=30))
        done.parent.mkdir(exist_ok=True)
        write_json_durably(done, {"id": dispute["id"], "status": result.get("status"),
                                  "merkle_root": result.get("merkle_root"), "receipts": result.get("receipts")})
        print(f"done {dispute['id']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
