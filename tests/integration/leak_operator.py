"""The operator's side of the leak test, run with the server's environment and Prefect's
API auth string: `configure RPC_URL` saves the `leak-rpc` AnchorChain block and makes the
served dispute runs anchor with it; `dump OUT` writes everything Prefect's API gives the
operator about runs (flow and task runs with parameters, states and results, logs,
artifacts, variables) as one JSON file, for the test to search."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


async def configure(rpc_url: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate

    from blocks.chain import AnchorChain

    await AnchorChain(name="leak", kind="rpc", chain_id=31337, rpc_url=rpc_url,
                      contract_address="0x" + "11" * 20, confirmations=1).save("leak-rpc", overwrite=True)
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("dispute-resolution/dispute-resolution")
        await client.update_deployment(deployment.id, DeploymentUpdate(
            parameters={**(deployment.parameters or {}), "chain_block": "leak-rpc"}))


async def dump(out: str) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        flow_runs = await client.read_flow_runs(limit=200)
        task_runs = await client.read_task_runs(limit=200)
        logs = await client.read_logs(limit=200)
        while len(logs) % 200 == 0 and logs:
            more = await client.read_logs(limit=200, offset=len(logs))
            if not more:
                break
            logs += more
        artifacts = await client.read_artifacts(limit=200)
        variables = await client.read_variables(limit=200)
        results = []
        for run in flow_runs:
            try:
                results.append(await run.state.result(raise_on_failure=False, fetch=True))
            except Exception as exc:  # noqa: BLE001 - a run without a stored result says so
                results.append(f"no result: {type(exc).__name__}")
    dumped = {"flow_runs": [r.model_dump(mode="json") for r in flow_runs],
              "task_runs": [r.model_dump(mode="json") for r in task_runs],
              "logs": [r.model_dump(mode="json") for r in logs],
              "artifacts": [a.model_dump(mode="json") for a in artifacts],
              "variables": [v.model_dump(mode="json") for v in variables],
              "results": results}
    Path(out).write_text(json.dumps(dumped, default=str))


if __name__ == "__main__":
    command, argument = sys.argv[1], sys.argv[2]
    asyncio.run(configure(argument) if command == "configure" else dump(argument))
