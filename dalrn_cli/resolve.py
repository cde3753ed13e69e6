"""`dalrn resolve` and `dalrn demo`: the tenant submits a dispute and answers the flow.

The CLI plays both roles, each with its own folder. As the tenant (`DALRN_TENANT_HOME`,
default `.dalrn-tenant`) it seals the file's confidential evidence and embeds it for the
query (`tenant_sdk`), encrypts the precedent query with the tenant's own CKKS key and,
when the flow pauses with encrypted scores, decrypts them and reveals only its chosen
precedents. As the server (`DALRN_HOME`, default `.dalrn`) it runs the dispute-resolution
flow, which receives the public context, ciphertexts and CIDs only. No secret key and no
confidential text reaches the server's folder.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from dalrn_cli.tenant import reveal_to_run
from dalrn_core.dispute.model import Dispute
from dalrn_core.search.tenant_query import prepare_search


def load_as_tenant(path: str | Path) -> tuple[Dispute, list[str]]:
    """The dispute in `path` as the server will see it, and every evidence text for the query.

    A file with confidential items is checked first as if they were public (every other
    rule), then its confidential texts are sealed into the content store by ciphertext.
    """
    from dalrn_cli.json_input import read_json_object
    from dalrn_cli.tenant_sdk import has_confidential, precheck, seal_locally
    from dalrn_core.dispute.parse import load_dispute_file, parse_dispute

    body = read_json_object(path, "a dispute")
    if not has_confidential(body):
        dispute = load_dispute_file(path)
        return dispute, [d.text for d in dispute.evidence if d.text is not None]
    checked = precheck(body)
    from blocks.evidence_store import content_store  # imports Prefect: on use only

    sealed = seal_locally(body, checked.tenant, content_store().put)
    return parse_dispute(sealed.body), sealed.texts


async def _answer_pause(tag: str, dispute: Dispute, request: dict, say) -> None:
    """Wait for the tagged run to pause, then decrypt and reveal the tenant's choice."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    async with get_client() as client:
        while True:
            await asyncio.sleep(0.3)
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
            )
            run = runs[0] if runs else None
            if run is None or run.state is None:
                continue
            if run.state.is_final():
                return
            if run.state.is_paused():
                break
    await reveal_to_run(run.id, dispute.id, dispute.tenant, request["k"], say)


async def resolve_async(dispute: Dispute, *, rule: str = "nsw", search: bool = True, say=print,
                        texts: list[str] | None = None) -> dict:
    """Resolve `dispute`; `texts` are the tenant's evidence texts for its query (default: the public ones)."""
    from prefect import tags

    from blocks.evidence_store import content_store
    from flows.dispute_resolution import dispute_resolution

    store = content_store()
    request = None
    if search:
        say(f"tenant {dispute.tenant}: encrypting the precedent query with its own CKKS key")
        texts = texts if texts is not None else [d.text for d in dispute.evidence if d.text is not None]
        request = prepare_search(dispute.tenant, texts, store)
    tag = f"submission-{uuid.uuid4().hex[:12]}"
    with tags(tag, f"tenant-{dispute.tenant}"):
        flow_task = asyncio.create_task(
            dispute_resolution(dispute.model_dump(mode="json"), precedent_search=request, rule=rule)
        )
        if request is not None:
            tenant_task = asyncio.create_task(_answer_pause(tag, dispute, request, say))
            done, _ = await asyncio.wait({flow_task, tenant_task}, return_when=asyncio.FIRST_EXCEPTION)
            if tenant_task in done and tenant_task.exception() is not None:
                flow_task.cancel()
                raise tenant_task.exception()
        return await flow_task


def resolve(dispute: Dispute, **kwargs) -> dict:
    return asyncio.run(resolve_async(dispute, **kwargs))


def print_summary(result: dict, stream=sys.stdout) -> None:
    settlement = result["settlement"]
    lines = [
        f"dispute        {result['dispute_id']}",
        f"mediator       agent {result['mediator']} of the live network",
        f"outcome        {settlement['outcome']}",
    ]
    for who, term in settlement["terms"].items():
        payoff = settlement["payoffs"].get(who)
        lines.append(f"  {who:<12} {term}" + (f"  (payoff {payoff:g})" if payoff is not None else ""))
    lines += [
        f"memo CID       {result['memo_cid']}",
        f"precedents     {', '.join(result['precedents']) or 'none revealed'}",
    ]
    if result["anchor_status"] == "anchored":
        lines += [f"Merkle root    {result['merkle_root']}", f"transaction    {result['tx_hash']}"]
    else:
        lines.append("anchor         pending: the next anchor_batches run anchors it")
    lines += [
        f"receipts       {len(result['receipts'])} (last {result['receipts'][-1]})",
        "stage times",
    ]
    lines += [f"  {stage:<16} {seconds:7.3f} s" for stage, seconds in result["stage_seconds"].items()]
    stream.write("\n".join(lines) + "\n")
