"""`dalrn submit FILE --api URL` and `dalrn status ID --api URL`: a firm's side of the gateway.

Nothing here reads the server's data folder: the dispute goes to the gateway as JSON with
an `Idempotency-Key`, and its status comes back from the gateway. The default key is the
SHA-256 of the file's canonical JSON, so running the same command again (say after a
dropped connection) returns the dispute already accepted instead of starting a second run;
pass `--idempotency-key` to submit the same content anew.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

from dalrn_cli.api_client import GatewayClient, api_key_from_env
from dalrn_cli.json_input import read_json_object
from dalrn_core.errors import InputError

API_URL_ENV = "DALRN_API_URL"
FINAL = {"anchored", "failed", "rejected"}


def api_url(given: str | None) -> str:
    url = given or os.environ.get(API_URL_ENV, "")
    if not url:
        raise InputError.one("api", f"pass --api URL (or set {API_URL_ENV}) to reach the gateway")
    if not url.startswith(("http://", "https://")):
        raise InputError.one("api", "must be an http:// or https:// URL")
    return url


def default_idempotency_key(dispute: dict) -> str:
    import rfc8785

    return "sha256-" + hashlib.sha256(rfc8785.dumps(dispute)).hexdigest()


def submit(path: str, *, api: str | None, idempotency_key: str | None = None) -> dict:
    """Send the dispute in `path` to the gateway; returns its 202 answer.

    A joint filing's opening (the shared structure and your `side`, as `dalrn split` writes
    it) is sent with the side salted here and the salt kept in your tenant home. Evidence
    the file marks confidential is encrypted here first and sent only as ciphertext
    (`tenant_sdk`).
    """
    from dalrn_cli.api_client import GatewayError
    from dalrn_cli.tenant_sdk import has_confidential, seal_for_gateway

    dispute = read_json_object(path, "a dispute")
    confidential = has_confidential(dispute)
    key = idempotency_key or default_idempotency_key(dispute)
    with GatewayClient(api_url(api), api_key_from_env()) as client:
        if confidential:
            dispute = seal_for_gateway(dispute, client).body
        if "side" in dispute:
            from dalrn_cli.sides import salted_opening

            dispute = salted_opening(dispute)
        if not confidential and idempotency_key is None:
            key = default_idempotency_key(dispute)
        try:
            return client.request("POST", "/v1/disputes", json=dispute, headers={"Idempotency-Key": key},
                                  ok=(200, 201, 202)).json()
        except GatewayError as exc:
            if confidential and exc.code in ("idempotency.conflict", "dispute.exists"):  # each sealing encrypts anew
                raise InputError.one("file", f"dispute {dispute.get('id')} was already submitted; follow it with "
                                             f"`dalrn status {dispute.get('id')}`") from None
            raise


def status(dispute_id: str, *, api: str | None, wait: bool = False, timeout_s: float = 900.0,
           poll_s: float = 2.0, say=None) -> dict:
    """The dispute's status from the gateway; with `wait`, polls until it is final."""
    deadline = time.monotonic() + timeout_s
    last = None
    with GatewayClient(api_url(api), api_key_from_env()) as client:
        while True:
            answer = client.get_json(f"/v1/disputes/{dispute_id}")
            if say is not None and answer.get("status") != last:
                say(f"{dispute_id}: {answer.get('status')}")
            last = answer.get("status")
            if not wait or last in FINAL:
                return answer
            if time.monotonic() > deadline:
                raise InputError.one("wait", f"dispute {dispute_id} still {last} after {timeout_s:.0f} s")
            time.sleep(poll_s)


def print_status(answer: dict, stream=sys.stdout) -> None:
    lines = [f"dispute      {answer.get('dispute_id')}", f"status       {answer.get('status')}"]
    for field in ("submitted_at", "updated_at", "memo_cid", "tx_hash", "proof_id"):
        if answer.get(field):
            lines.append(f"{field:<12} {answer[field]}")
    settlement = answer.get("settlement") or {}
    if settlement:
        lines.append(f"outcome      {settlement.get('outcome')}")
    stream.write("\n".join(lines) + "\n")
