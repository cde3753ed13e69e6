"""The CLI as a client of the gateway: a token from the API key, and keyless verification.

The API key comes from `DALRN_API_KEY` as `KEY_ID:SECRET` (what `dalrn admin tenant create`
prints as `key_id` and `api_key`). The client trades it for a short-lived bearer token at
`/v1/oauth/token` (OAuth2 client credentials) and sends only the token afterwards.

`GatewayContent` is the content store of a tenant that reaches the server only through
the gateway (`POST /v1/content`, `GET /v1/content/{cid}`): every CID is computed or
re-checked on this side, so the gateway can neither swap nor corrupt what it hands on.

`verify_public_proof` checks an anchored dispute on a machine that holds no key of the
operator: it trusts only the signing keys the operator publishes, reads the chain through
its RPC (or the embedded chain's journal when run on the operator's host) and creates no
key of any kind.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from dalrn_core.errors import InputError, IntegrityError, Problem

API_KEY_ENV = "DALRN_API_KEY"


def api_key_from_env() -> tuple[str, str]:
    """(key id, secret) from `DALRN_API_KEY=KEY_ID:SECRET`; a clear error when absent or malformed."""
    raw = os.environ.get(API_KEY_ENV, "").strip()
    key_id, sep, secret = raw.partition(":")
    if not raw:
        raise InputError.one(API_KEY_ENV, "is not set (expected KEY_ID:SECRET from `dalrn admin tenant create`)")
    if not sep or not key_id or not secret:
        raise InputError.one(API_KEY_ENV, "must have the form KEY_ID:SECRET")
    return key_id, secret


def _error_of(response: httpx.Response) -> dict | str:
    try:
        return response.json().get("error") or response.json().get("detail") or {}
    except (json.JSONDecodeError, AttributeError):
        return {}


def _error_text(response: httpx.Response) -> str:
    error = _error_of(response)
    if isinstance(error, dict) and error.get("code"):
        return f"{error['code']}: {error.get('message', '')}"
    return f"HTTP {response.status_code}: {error}" if error else f"HTTP {response.status_code}"


class GatewayError(InputError):
    """The gateway refused a request; carries its HTTP status and stable error code."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        error = _error_of(response)
        self.code = str(error.get("code")) if isinstance(error, dict) and error.get("code") else None
        super().__init__(Problem("api", f"{response.request.method} {response.request.url.path}: "
                                        f"{_error_text(response)}"), subject="request")


class GatewayClient:
    """Talks to one gateway; fetches (and renews) a bearer token when a key is given."""

    def __init__(self, api: str, key: tuple[str, str] | None = None, *, timeout_s: float = 30.0) -> None:
        self.api = api.rstrip("/")
        self.key = key
        self._http = httpx.Client(base_url=self.api, timeout=timeout_s)
        self._token: str | None = None
        self._expires = 0.0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _bearer(self) -> dict[str, str]:
        if self.key is None:
            return {}
        if self._token is None or time.monotonic() > self._expires - 30:
            try:
                response = self._http.post("/v1/oauth/token", data={
                    "grant_type": "client_credentials", "client_id": self.key[0], "client_secret": self.key[1]})
            except httpx.HTTPError as exc:
                raise InputError.one("api", f"cannot reach the gateway at {self.api}: {exc}") from None
            if response.status_code != 200:
                raise GatewayError(response)
            body = response.json()
            self._token, self._expires = body["access_token"], time.monotonic() + float(body["expires_in"])
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs) -> httpx.Response:
        try:
            headers = {**self._bearer(), **kwargs.pop("headers", {})}
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise InputError.one("api", f"cannot reach the gateway at {self.api}: {exc}") from None
        if response.status_code not in ok:
            raise GatewayError(response)
        return response

    def get_json(self, path: str) -> dict:
        return self.request("GET", path).json()

    def join_dispute(self, dispute_id: str, side: dict, *, tenant: str | None = None) -> dict:
        """File this tenant's side of joint dispute `dispute_id` (opened by `tenant`)."""
        params = {"tenant": tenant} if tenant else {}
        return self.request("POST", f"/v1/disputes/{dispute_id}/join", json=side, params=params,
                            ok=(200, 202)).json()

    @property
    def tenant(self) -> str:
        """The tenant the API key belongs to, as the gateway's token names it.

        Read from the token's claims without verifying them: it only names this side's own
        key file; the gateway checks the token on every request.
        """
        headers = self._bearer()
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return str(claims["tenant"])
        except (IndexError, KeyError, ValueError) as exc:
            raise InputError.one("api", f"the gateway's token names no tenant ({exc})") from None

    def download(self, path: str, progress: Callable[[int, int], None] | None = None) -> bytes:
        """The raw body of `GET path`, read in chunks so `progress(done, total)` can follow it."""
        try:
            with self._http.stream("GET", path, headers=self._bearer()) as response:
                if response.status_code != 200:
                    response.read()
                    raise GatewayError(response)
                total = int(response.headers.get("content-length") or 0)
                chunks, done = [], 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total or done)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise InputError.one("api", f"cannot reach the gateway at {self.api}: {exc}") from None


UPLOAD_CHUNK = 1 << 20


class GatewayContent:
    """The `put`/`get` of a content store, over the gateway; both checked by CID on this side."""

    def __init__(self, client: GatewayClient, progress: Callable[[str], Callable[[int, int], None]] | None = None):
        self.client = client
        self.progress = progress  # label -> progress(done, total), for the long transfers

    def _bar(self, label: str) -> Callable[[int, int], None] | None:
        return self.progress(label) if self.progress is not None else None

    def put(self, data: bytes, label: str = "upload") -> str:
        from dalrn_core.evidence.cid import cid_of

        bar = self._bar(label)

        def chunks() -> Iterator[bytes]:
            for at in range(0, len(data), UPLOAD_CHUNK):
                yield data[at:at + UPLOAD_CHUNK]
                if bar is not None:
                    bar(min(at + UPLOAD_CHUNK, len(data)), len(data))

        answer = self.client.request("POST", "/v1/content", ok=(201,), content=chunks(),
                                     headers={"Content-Type": "application/octet-stream",
                                              "Content-Length": str(len(data))}).json()
        expected = cid_of(data)
        if answer.get("cid") != expected:
            raise IntegrityError(f"the gateway stored the upload as {answer.get('cid')}, not its CID {expected}")
        return expected

    def get(self, cid: str, label: str | None = None) -> bytes:
        from dalrn_core.evidence.cid import parse_cid, verify_cid

        parse_cid(cid)
        data = self.client.download(f"/v1/content/{cid}", self._bar(label) if label else None)
        verify_cid(cid, data)
        return data


def _leaf_of_cid(cid: str) -> bytes:
    from dalrn_core.evidence.cid import parse_cid

    return parse_cid(cid, field="leaf_receipt_cid")


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _check_receipts(proof: dict, receipts: list[dict], trusted: set[str]) -> str:
    from dalrn_core.podp.receipts import receipt_chain_id, verify_chain

    cids = proof["receipts"]
    chain = receipts[: len(cids)]
    if not chain:
        raise IntegrityError("the receipts file holds no receipt")
    verify_chain(chain, chain_id=str(receipt_chain_id(chain[0])), trusted_signers=trusted, expected_cids=cids)
    return f"{len(chain)} receipts: signatures by the published keys valid, hash chain unbroken, CIDs match"


def _chain_reader(proof: dict, rpc: str | None):
    """A read-only web3 contract for the proof's chain: its RPC, or the local embedded journal."""
    from web3 import Web3

    from dalrn_core.chain.contract import artifact
    from dalrn_core.config import data_dir

    call: dict = {}
    if rpc:
        w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 20}))
    else:
        journal = data_dir() / "chain" / "embedded-journal.jsonl"
        if not journal.exists():
            return None
        from dalrn_core.chain.embedded import EmbeddedChain

        chain = EmbeddedChain(journal, funded_addresses=[])
        w3 = chain.w3
        # eth-tester charges gas to the caller even for a call: read as a funded address (no key).
        call = {"from": chain.header["funded"][0]} if chain.header.get("funded") else {}
    contract = proof["chain"]["contract"]
    return w3, w3.eth.contract(address=Web3.to_checksum_address(contract), abi=artifact()["abi"]), call


def _check_on_chain(proof: dict, leaf: bytes, siblings: list[bytes], root: bytes, rpc: str | None) -> str | None:
    reader = _chain_reader(proof, rpc)
    if reader is None:
        return None
    w3, contract, call = reader
    chain_id = w3.eth.chain_id
    if proof["chain"]["chain_id"] is not None and proof["chain"]["chain_id"] != chain_id:
        raise IntegrityError(f"the proof names chain {proof['chain']['chain_id']}, the RPC serves chain {chain_id}")
    if not contract.functions.isAnchored(root).call(call):
        raise IntegrityError(f"root {proof['root']} is not anchored by {contract.address} on chain {chain_id}")
    if not contract.functions.verifyReceipt(leaf, siblings, root).call(call):
        raise IntegrityError(f"the contract on chain {chain_id} rejects the inclusion proof")
    tx = proof["chain"].get("tx_hash")
    if tx:
        receipt = w3.eth.get_transaction_receipt(tx)
        if receipt["to"] is None or receipt["to"].lower() != contract.address.lower() or receipt["status"] != 1:
            raise IntegrityError(f"transaction {tx} is not a successful call of {contract.address}")
    return f"root anchored on chain {chain_id} at {contract.address}; contract accepts the proof"


def verify_public_proof(api: str, proof_id: str, *, receipts_file: str | None = None, rpc: str | None = None,
                        skip_chain: bool = False) -> list[str]:
    """Verify proof `proof_id` from the gateway at `api`; returns what held, raises on a failure."""
    from dalrn_core.podp.merkle import verify_proof

    with GatewayClient(api) as client:
        keys = client.get_json("/.well-known/dalrn-receipt-keys.json")
        proof = client.get_json(f"/v1/proofs/{proof_id}")
    trusted = {k["public_key"] for k in keys.get("keys", []) if k.get("public_key")}
    if not trusted:
        raise IntegrityError(f"{api} publishes no receipt-signing key: nothing to verify signatures against")
    held = [f"{len(trusted)} receipt-signing key(s) published by {api}"]
    leaf, root = _hex(proof["leaf"]), _hex(proof["root"])
    if not proof["receipts"] or proof["receipts"][-1] != proof["leaf_receipt_cid"]:
        raise IntegrityError("the anchored receipt is not the head of the published chain")
    if _leaf_of_cid(proof["leaf_receipt_cid"]) != leaf:
        raise IntegrityError(f"leaf {proof['leaf']} is not the digest of receipt {proof['leaf_receipt_cid']}")
    if receipts_file:
        try:
            receipts = json.loads(Path(receipts_file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError.one("receipts", f"cannot read {receipts_file}: {exc}") from None
        held.append(_check_receipts(proof, receipts, trusted))
    else:
        held.append(f"{len(proof['receipts'])} receipt CIDs published (bodies not checked: pass --receipts FILE)")
    siblings = [_hex(p) for p in proof["proof"]]
    if not verify_proof(leaf, siblings, root):
        raise IntegrityError(f"Merkle proof does not lead from leaf {proof['leaf']} to root {proof['root']}")
    held.append(f"Merkle proof ({len(siblings)} siblings, OpenZeppelin rules) leads to root {proof['root']}")
    if skip_chain:
        held.append("root on chain NOT checked (--skip-chain)")
        return held
    on_chain = _check_on_chain(proof, leaf, siblings, root, rpc)
    if on_chain is None:
        raise IntegrityError(f"cannot check root {proof['root']} on chain {proof['chain']['chain_id']}: pass --rpc "
                             "URL of that chain (an embedded chain is readable only on the operator's host), "
                             "or --skip-chain")
    held.append(on_chain)
    return held
