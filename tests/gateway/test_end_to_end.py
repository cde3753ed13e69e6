"""The issue's "done when", on loopback: `dalrn serve` (Prefect closed by its auth string, the
gateway, the served deployments), two firms made with the admin command, each submits the
example and reads its own dispute to `anchored`, never the other's; no token, 401; Prefect
without the auth string, 401; the public proof verifies in a process that holds no key.

On the same server, a firm's encrypted precedent search through the gateway only: `dalrn
tenant prepare --api` on the firm's own machine (its own data and key folders), the run
pauses `awaiting_tenant`, `dalrn tenant respond --api` decrypts there and reveals, the
dispute is anchored with the firm's precedents in its memo, and no file the server wrote
holds the firm's secret key."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.prefect_server import free_port

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _dalrn(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _wait_until(probe, deadline: float, what: str, server: subprocess.Popen):
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dalrn serve exited early while waiting for {what}"
        try:
            value = probe()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{what} never came")


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_index):
    """`dalrn serve` on free ports, sharing this session's data folder (the index is built)."""
    tmp_path = tmp_path_factory.mktemp("served")
    gateway_port, prefect_port = free_port(), free_port()
    keys = Path(os.environ["DALRN_KEYS_DIR"])  # the session's: its chain account is funded
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_API_AUTH_STRING", None)
    gateway, prefect = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prefect_port}/api"
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "serve", "--port", str(gateway_port),
                                   "--prefect-port", str(prefect_port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 400
            _wait_until(lambda: httpx.get(f"{gateway}/healthz", timeout=5).status_code == 200, deadline,
                        "the gateway", server)
            auth = (keys / "prefect-api-auth").read_text().strip()
            deployment = f"{prefect}/deployments/name/dispute-resolution/dispute-resolution"
            _wait_until(lambda: httpx.get(deployment, auth=tuple(auth.split(":", 1)), timeout=5).status_code == 200,
                        deadline, "the served deployment", server)
            yield {"gateway": gateway, "prefect": prefect, "env": env, "keys": keys, "log": tmp_path / "serve.log",
                   "prefect_home": tmp_path / "prefect"}
        finally:
            server.terminate()
            server.wait(timeout=60)


def _tenant(name: str, env: dict) -> dict:
    made = _dalrn("admin", "tenant", "create", name, "--role", "party", "--json", env=env)
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert set(created) >= {"tenant", "key_id", "api_key"}
    return {**env, "DALRN_API_KEY": f"{created['key_id']}:{created['api_key']}"}


def _token(gateway: str, env: dict) -> str:
    key_id, secret = env["DALRN_API_KEY"].split(":", 1)
    answer = httpx.post(f"{gateway}/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": key_id,
                                                           "client_secret": secret})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_two_firms_each_reach_only_their_own_anchored_dispute(served, tmp_path):
    gateway, env = served["gateway"], served["env"]
    bootstrap = served["keys"] / "gateway-bootstrap-admin.json"
    assert oct(bootstrap.stat().st_mode & 0o777) == "0o600"
    assert json.loads(bootstrap.read_text())["api_key"] not in served["log"].read_text()

    # Prefect is closed; the gateway without a token too.
    assert httpx.post(f"{served['prefect']}/flows/filter", json={}).status_code == 401
    assert httpx.get(f"{gateway}/v1/disputes/acme-globex-2026-001").status_code == 401

    firms = {name: _tenant(name, env) for name in ("firm-a", "firm-b")}
    dispute = {k: v for k, v in json.loads(SAMPLE.read_text()).items() if k != "tenant"}
    body = tmp_path / "dispute.json"
    body.write_text(json.dumps(dispute))
    only_a = tmp_path / "only-a.json"
    only_a.write_text(json.dumps({**dispute, "id": "firm-a-only-001"}))

    for firm_env in firms.values():
        sent = _dalrn("submit", str(body), "--api", gateway, "--json", env=firm_env)
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["dispute_id"] == dispute["id"]
    sent = _dalrn("submit", str(only_a), "--api", gateway, "--json", env=firms["firm-a"])
    assert sent.returncode == 0, sent.stderr

    proof_ids = []
    for name, firm_env in firms.items():
        done = _dalrn("status", dispute["id"], "--api", gateway, "--wait", "--timeout", "600", "--json",
                      env=firm_env, timeout=660)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["status"] == "anchored", (name, answer)
        proof_ids.append(answer.get("proof_id"))

    token_b = _token(gateway, firms["firm-b"])
    hidden = httpx.get(f"{gateway}/v1/disputes/firm-a-only-001", headers={"Authorization": f"Bearer {token_b}"})
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "dispute.not_found"

    # The public proof, from a process whose data and key folders are empty.
    proof_id = proof_ids[0]
    assert proof_id, "the tenant's dispute answer names its public proof id"
    empty = {**os.environ, "DALRN_HOME": str(tmp_path / "v-home"), "DALRN_KEYS_DIR": str(tmp_path / "v-keys")}
    empty.pop("DALRN_API_KEY", None)
    checked = _dalrn("receipts", "verify", proof_id, "--api", gateway, "--skip-chain", env=empty)
    assert checked.returncode == 0, checked.stderr
    assert "Merkle proof" in checked.stdout
    on_host = _dalrn("receipts", "verify", proof_id, "--api", gateway,
                     env={**empty, "DALRN_HOME": os.environ["DALRN_HOME"]})
    assert on_host.returncode == 0 and "contract accepts the proof" in on_host.stdout, on_host.stderr
    assert not (tmp_path / "v-keys").exists() or not list((tmp_path / "v-keys").iterdir())


def _secret_key_needles(key_file: Path) -> list[bytes]:
    """Byte strings any copy of the tenant's secret key would contain: slices of its raw
    coefficients (SEAL's uncompressed form) and of SEAL's compressed serialisation of it."""
    import tempfile

    from dalrn_core.search.ckks_keys import TenantKeys

    secret = TenantKeys.load(key_file).context.secret_key().data
    plain = secret.data()
    count = plain.coeff_count()
    needles = [struct.pack("<8Q", *(plain[i + j] for j in range(8))) for i in (0, count // 3, count // 2, count - 8)]
    with tempfile.TemporaryDirectory() as folder:
        secret.save(f"{folder}/sk")
        compressed = Path(f"{folder}/sk").read_bytes()
    needles += [compressed[at:at + 64] for at in (64, len(compressed) // 2, len(compressed) - 64)]
    return needles


def _files_holding(roots: list[Path], needles: list[bytes]) -> list[str]:
    found = []
    for root in roots:
        for path in (p for p in root.rglob("*") if p.is_file()):
            try:
                data = path.read_bytes()
            except OSError:  # a socket or a file removed while walking
                continue
            found += [f"{path} holds needle {i}" for i, needle in enumerate(needles) if needle in data]
    return found


def test_a_firm_searches_precedents_through_the_gateway_and_keeps_its_secret_key(served, tmp_path):
    from dalrn_core.dispute.records import chain_key, load_record, record_path
    from dalrn_core.evidence.store import LocalContentStore

    gateway = served["gateway"]
    firm = _tenant("firm-c", served["env"])
    # The firm's own machine: its data, key and tenant folders are not the server's.
    machine = tmp_path / "firm-c-machine"
    firm_env = {**firm, "DALRN_HOME": str(machine / "home"), "DALRN_KEYS_DIR": str(machine / "keys"),
                "DALRN_TENANT_HOME": str(machine / "tenant")}
    dispute = {**{k: v for k, v in json.loads(SAMPLE.read_text()).items() if k != "tenant"},
               "id": "firm-c-search-001"}
    body = tmp_path / "dispute.json"
    body.write_text(json.dumps(dispute))

    prepared = _dalrn("tenant", "prepare", str(body), "--api", gateway, "--json", env=firm_env)
    assert prepared.returncode == 0, prepared.stderr
    sent = json.loads(prepared.stdout)
    assert sent["dispute_id"] == dispute["id"] and sent["precedent_search"]["k"] == 5

    headers = {"Authorization": f"Bearer {_token(gateway, firm)}"}
    deadline = time.monotonic() + 400
    status = None
    while time.monotonic() < deadline and status != "awaiting_tenant":
        status = httpx.get(f"{gateway}/v1/disputes/{dispute['id']}", headers=headers, timeout=30).json()["status"]
        assert status in ("queued", "running", "awaiting_tenant"), status
        time.sleep(1)
    assert status == "awaiting_tenant"

    answered = _dalrn("tenant", "respond", dispute["id"], "--api", gateway, "--json", env=firm_env)
    assert answered.returncode == 0, answered.stderr
    revealed = [p["precedent_id"] for p in json.loads(answered.stdout)["precedents"]]
    assert len(revealed) == 5

    done = _dalrn("status", dispute["id"], "--api", gateway, "--wait", "--timeout", "400", "--json",
                  env=firm_env, timeout=460)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "anchored"
    # The memo names exactly the precedents the firm revealed, in its order; the chain is the firm's own.
    chain = chain_key("firm-c", dispute["id"])
    store = LocalContentStore()
    receipts = [json.loads(store.get(cid)) for cid in load_record(chain)["receipts"]]
    explain = next(r for r in reversed(receipts) if r["step"] == "explain")
    memo = json.loads(store.get(explain["outputs"]["memo_cid"]))
    assert [p["precedent_id"] for p in memo["precedents"]] == revealed
    assert not record_path(dispute["id"]).exists()

    key_files = list(machine.rglob("tenant-*.ckks"))
    assert [p.name for p in key_files] == ["tenant-firm-c.ckks"]
    needles = _secret_key_needles(key_files[0])
    assert _files_holding([machine], needles)  # the search finds the secret key where it is
    server_roots = [Path(os.environ["DALRN_HOME"]), served["keys"], served["prefect_home"]]
    assert _files_holding(server_roots, needles) == []
    assert not list(machine.rglob("content/*"))  # the firm kept no content store: it went to the gateway
