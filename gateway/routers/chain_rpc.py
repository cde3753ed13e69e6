"""`POST /v1/proofs/chain-rpc`: read-only JSON-RPC to the chain the gateway anchors on.

A party that holds a public proof checks the anchor itself: the transaction receipt, its
`RootAnchored` log and the contract's state, read from the chain, not from the gateway's
records. The embedded chain lives in the operator's data folder, so no one else can reach
it; this endpoint answers for it (and for a JSON-RPC node, forwarded as it answers).

Public, like the proof itself (no token; rate limited per client address). Only the read
methods in `READ_METHODS` are answered: any other (`eth_sendRawTransaction`, `eth_sign`,
`personal_*`, ...) gets the JSON-RPC error -32601 naming the method and the rule, and is
never passed to the chain. A batch holds at most `MAX_BATCH` calls. A body that is not a
JSON-RPC call is a 4xx in the gateway's error shape; a node's failure is a JSON-RPC error
naming only its type (an RPC URL often holds an API key).
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Literal

from eth.exceptions import PyEVMError
from eth_tester.exceptions import BlockNotFound, TransactionNotFound, ValidationError
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from web3.exceptions import Web3Exception

from dalrn_core.chain.errors import TRANSIENT_CHAIN_ERRORS
from gateway.deps import AppSettings, rate_limit
from gateway.errors import api_error, responses

log = logging.getLogger("dalrn.gateway")

PATH = "/v1/proofs/chain-rpc"
MAX_BATCH = 20
READ_METHODS = ("eth_chainId", "eth_blockNumber", "eth_getBlockByHash", "eth_getBlockByNumber",
                "eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_call", "eth_getLogs", "eth_getCode")
READ_RULE = "this endpoint answers only the read methods " + ", ".join(READ_METHODS)
# What reaching a JSON-RPC node can raise (transport, HTTP status, web3's own); anything else is a bug.
NODE_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, Web3Exception, *TRANSIENT_CHAIN_ERRORS)
# What the in-process EVM raises for a call it cannot take (bad or unknown params).
EMBEDDED_CALL_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError, Web3Exception,
                                                      PyEVMError, BlockNotFound, TransactionNotFound, ValidationError)

router = APIRouter(tags=["proofs"])


class RpcCall(BaseModel):
    jsonrpc: Literal["2.0"] = "2.0"
    id: int | str | None = None
    method: str = Field(max_length=64, description="one of the read methods: " + ", ".join(READ_METHODS))
    params: list[Any] | dict[str, Any] = Field(default_factory=list)


class RpcError(BaseModel):
    code: int
    message: str
    data: dict[str, Any] | None = None


class RpcAnswer(BaseModel):
    jsonrpc: Literal["2.0"]
    id: int | str | None
    result: Any = Field(default=None, description="present when the call succeeded")
    error: RpcError | None = Field(default=None, description="present when it did not")


Batch = Annotated[list[RpcCall], Field(description=f"a batch: 1 to {MAX_BATCH} calls, answered in order")]

_lock = threading.Lock()  # eth-tester's in-process EVM is not thread-safe; one call at a time


def _clients(request: Request) -> list[Any]:
    """The anchor client(s) of the gateway's chain configuration (opened once per app)."""
    state = request.app.state
    if getattr(state, "chain_rpc_client", None) is None:
        from blocks.chain import anchor_client

        state.chain_rpc_client = anchor_client(None)  # the embedded chain replays its journal here
    client = state.chain_rpc_client
    return list(getattr(client, "clients", None) or [client])


def _chain_id_of(client: Any) -> int:
    config = getattr(client, "config", None)
    return int(config.chain_id) if config is not None else int(client.w3.eth.chain_id)


def _wire(value: Any, key: str = "") -> Any:
    """eth-tester's answer (ints, bytes, tuples) in JSON-RPC's wire form (hex quantities and data)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return "0x" + format(value, "0512x") if key == "logsBloom" else hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        renamed = {"y_parity": "yParity"}
        return {renamed.get(k, k): _wire(v, k) for k, v in value.items() if k != "state_root"}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return str(value)


def _error(call: RpcCall, code: int, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": call.id, "error": error}


def _embedded_call(client: Any, method: str, params: Any) -> dict[str, Any]:
    from web3.datastructures import NamedElementOnion

    if method == "eth_call" and isinstance(params, list) and params and isinstance(params[0], dict) \
            and "from" not in params[0]:
        # eth-tester charges a call's gas to its sender: read as the funded anchorer (nothing is sent).
        params = [{**params[0], "from": client.account.address}, *params[1:]]
    answer = client.w3.provider.request_func(client.w3, NamedElementOnion([]))(method, params)
    wired: dict[str, Any] = _wire(dict(answer))
    return wired


def _invalid_params(call: RpcCall, exc: Exception) -> dict[str, Any]:
    from eth_tester.exceptions import ValidationError as TesterValidationError
    from eth_utils.exceptions import ValidationError as UtilsValidationError

    said = str(exc)[:300] if isinstance(exc, TesterValidationError | UtilsValidationError) else type(exc).__name__
    return _error(call, -32602, f"invalid params for {call.method}: {said}")


def _answer(client: Any, call: RpcCall) -> dict[str, Any]:
    """One call's JSON-RPC answer: refused unless a read method, else the chain's answer."""
    if call.method not in READ_METHODS:
        return _error(call, -32601, f"method {call.method} is not allowed: {READ_RULE}",
                      {"rule": "read-only", "method": call.method, "allowed": list(READ_METHODS)})
    from web3.providers.eth_tester import EthereumTesterProvider

    with _lock:
        try:
            embedded = isinstance(client.w3.provider, EthereumTesterProvider)
            if embedded:
                client.sync()  # anchors other processes journaled since this one replayed the chain
            else:
                answer = dict(client.w3.provider.make_request(call.method, call.params))
        except NODE_ERRORS as exc:  # a node down or refusing; its message may quote the RPC URL
            log.warning("chain RPC %s failed: %s", call.method, type(exc).__name__)
            return _error(call, -32603, f"the chain did not answer {call.method} ({type(exc).__name__})")
        if embedded:
            try:
                answer = _embedded_call(client, call.method, call.params)
            except EMBEDDED_CALL_ERRORS as exc:  # in process, a call the EVM cannot take is its params' fault
                return _invalid_params(call, exc)
    out: dict[str, Any] = {"jsonrpc": "2.0", "id": call.id}
    if answer.get("error") is not None:
        error = answer["error"]
        out["error"] = error if isinstance(error, dict) else {"code": -32603, "message": str(error)[:300]}
    else:
        out["result"] = answer.get("result")
    return out


@router.post(PATH, summary="Read-only JSON-RPC to the anchoring chain, to check a proof's anchor (no token)",
             response_model=RpcAnswer | list[RpcAnswer], responses=responses(404, 422, 429, 503))
def chain_rpc(body: RpcCall | Batch, request: Request, settings: AppSettings,
              chain_id: Annotated[int | None, Query(description="which anchoring chain (default: the primary)",
                                                    ge=1)] = None) -> JSONResponse:
    if isinstance(body, list) and not 1 <= len(body) <= MAX_BATCH:
        raise api_error(422, "chain_rpc.batch_size", f"a batch holds 1 to {MAX_BATCH} calls, not {len(body)}", "body")
    host = request.client.host if request.client else "unknown"
    rate_limit(request, settings.rate_limit, f"chain-rpc:{host}")
    try:
        with _lock:
            clients = _clients(request)
            ids = [_chain_id_of(c) for c in clients] if chain_id is not None else []
    except Exception as exc:  # noqa: BLE001 - the journal refused, or the node cannot be reached
        log.warning("chain RPC: the chain could not be opened: %s", type(exc).__name__)
        raise api_error(503, "chain.unavailable", f"the anchoring chain cannot be read ({type(exc).__name__})") from None
    client = clients[0]
    if chain_id is not None:
        matching = [c for c, known in zip(clients, ids, strict=True) if known == chain_id]
        if not matching:
            raise api_error(404, "chain.not_found", f"the gateway anchors on no chain with id {chain_id}", "chain_id")
        client = matching[0]
    if isinstance(body, list):
        return JSONResponse([_answer(client, call) for call in body])
    return JSONResponse(_answer(client, body))
