"""Issue 13's proof: what the server side holds after real disputes, searched for markers.

`dalrn serve` runs the server (Prefect, the gateway, the served deployments) with a data
folder of its own, its dispute runs anchoring through an RPC URL that carries a marker in
its userinfo and path and points at a closed port (so anchoring stays pending), and every
one of its Python processes refused any file operation under the tenants' folders (a guard
loaded through PYTHONPATH; the test runs as root, where file modes would not stop it) and
pointed, for `DALRN_TENANT_HOME`, at the opener's own folder. Two firms act from their own
folders through the gateway only (`dalrn submit`, `dalrn join`, `dalrn tenant prepare` and
`respond`, `dalrn evidence show`):

- a joint dispute: the opener's confidential evidence holds a random marker sentence, each
  party's BATNA is a float with many random digits, and the opening carries the opener's
  encrypted precedent search (`dalrn tenant prepare` on the opening, `dalrn tenant respond`
  once every party joined and the run paused);
- a one-sided filing with an encrypted precedent search whose evidence is all confidential.

The server's Prefect auth string carries a random marker too, and the server's own keys
(receipt, audit, JWT, sealing, anchorer, portal) and the tenants' keys (X25519 envelope
keys, dispute data keys) are markers themselves: none may appear outside its own key folder.

Then everything the server side holds is searched: its whole data folder (Prefect's
database and results, the content store, chain journal, ledgers, receipts, memos, the
gateway database and audit log, embedding cache), its key folder, the log of its processes,
and what Prefect's API gives the operator (runs, task runs, logs, artifacts, variables,
results); and the counterparty's API views. The evidence markers and every copy of their
MiniLM embeddings (float32 bytes, JSON-rendered values) appear nowhere; each BATNA appears
only in its owner's views (the server keeps it only sealed); the RPC marker, the auth-string
marker and the key material nowhere. And the server's copy of each encrypted query matches
no embedding the server holds.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.gateway.prefect_server import free_port
from tests.integration import leak_search as leak

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "supply-contract.json").read_text())
GUARD = Path(__file__).resolve().parent / "leak_guard"
OPENER, JOINER = "leak-acme", "leak-globex"


def _dalrn(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.args, done.stderr[-3000:])
    return done.stdout


def _wait(probe, timeout_s: float, what: str, server: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server is not None:
            assert server.poll() is None, f"dalrn serve exited while waiting for {what}"
        try:
            value = probe()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{what} never came")


@pytest.fixture(scope="module")
def world(tmp_path_factory, small_index):
    """The server (its own folders, guarded from the tenants'), the operator's set-up, two firms."""
    tmp = tmp_path_factory.mktemp("leak")
    server_home, server_keys = tmp / "server" / "home", tmp / "server" / "keys"
    shutil.copytree(Path(os.environ["DALRN_HOME"]) / "index", server_home / "index")  # the built precedent index
    machines = {name: tmp / f"{name}-machine" for name in (OPENER, JOINER)}
    rpc_marker = secrets.token_hex(16)
    dead_port = free_port()  # nothing listens here: every anchoring try fails at connect
    rpc_url = f"http://leakuser:{rpc_marker}@127.0.0.1:{dead_port}/{rpc_marker}"
    # The server's Prefect auth string, made here so that it holds a marker (dalrn serve reads it).
    auth_marker = secrets.token_hex(16)
    server_keys.mkdir(parents=True, mode=0o700)
    fd = os.open(server_keys / "prefect-api-auth", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"dalrn:{auth_marker}")

    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "DALRN_EMBEDDINGS_DIR"}
    server_env = {**base, "DALRN_HOME": str(server_home), "DALRN_KEYS_DIR": str(server_keys),
                  "DALRN_TENANT_HOME": str(machines[OPENER] / "tenant"),  # pointed at, and unreadable
                  "PYTHONPATH": os.pathsep.join([str(GUARD), str(ROOT), base.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                  "DALRN_GUARDED_PATHS": os.pathsep.join(str(m) for m in machines.values()),
                  "DALRN_GUARD_LOG": str(tmp / "guard.log"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  # Polling and a dozen CLI calls: above the default per-key limits.
                  "DALRN_GATEWAY_RATE_LIMIT": "10000/minute", "DALRN_GATEWAY_TOKEN_RATE_LIMIT": "10000/minute"}
    gateway_port, prefect_port = free_port(), free_port()
    gateway, prefect = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prefect_port}/api"
    log_path = tmp / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "serve", "--port", str(gateway_port),
                                   "--prefect-port", str(prefect_port)], env=server_env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            _wait(lambda: httpx.get(f"{gateway}/healthz", timeout=5).status_code == 200, 400, "the gateway", server)
            auth = (server_keys / "prefect-api-auth").read_text().strip()
            assert auth == f"dalrn:{auth_marker}"
            deployment = f"{prefect}/deployments/name/dispute-resolution/dispute-resolution"
            _wait(lambda: httpx.get(deployment, auth=tuple(auth.split(":", 1)), timeout=5).status_code == 200,
                  300, "the served deployment", server)
            operator_env = {**server_env, "PREFECT_API_URL": prefect, "PREFECT_API_AUTH_STRING": auth}
            configured = subprocess.run([sys.executable, "-m", "tests.integration.leak_operator", "configure", rpc_url],
                                        check=False, env=operator_env, capture_output=True, text=True, timeout=120, cwd=ROOT)
            assert configured.returncode == 0, configured.stderr[-3000:]
            firms = {}
            for name, machine in machines.items():
                made = json.loads(_ok(_dalrn("admin", "tenant", "create", name, "--role", "party", "--json",
                                             env=server_env)))
                firms[name] = {**base, "DALRN_API_KEY": f"{made['key_id']}:{made['api_key']}",
                               "DALRN_API_URL": gateway, "DALRN_TENANT_HOME": str(machine / "tenant"),
                               "DALRN_HOME": str(machine / "home"), "DALRN_KEYS_DIR": str(machine / "keys")}
            yield {"tmp": tmp, "server": server, "server_home": server_home, "server_keys": server_keys,
                   "log": log_path, "gateway": gateway, "operator_env": operator_env, "firms": firms,
                   "machines": machines, "rpc_marker": rpc_marker, "auth_marker": auth_marker}
        finally:
            server.terminate()
            server.wait(timeout=60)


def _token(world, name: str) -> str:
    tokens = world.setdefault("tokens", {})
    if name not in tokens or tokens[name][1] < time.monotonic():
        key_id, secret = world["firms"][name]["DALRN_API_KEY"].split(":", 1)
        answer = httpx.post(f"{world['gateway']}/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": key_id, "client_secret": secret}, timeout=30)
        assert answer.status_code == 200, answer.text
        tokens[name] = (answer.json()["access_token"], time.monotonic() + answer.json()["expires_in"] - 60)
    return tokens[name][0]


def _get(world, name: str, path: str, **params) -> httpx.Response:
    return httpx.get(world["gateway"] + path, params=params or None, timeout=60,
                     headers={"Authorization": f"Bearer {_token(world, name)}"})


def _settled(world, name: str, dispute_id: str, timeout_s: float = 420, **params) -> dict:
    def probe():
        view = _get(world, name, f"/v1/disputes/{dispute_id}", **params).json()
        assert view["status"] not in ("failed", "rejected"), view
        return view if view["status"] in ("resolved", "anchored") else None

    return _wait(probe, timeout_s, f"dispute {dispute_id} settled", world["server"])


def _awaiting_tenant(world, name: str, dispute_id: str) -> None:
    def probe():
        view = _get(world, name, f"/v1/disputes/{dispute_id}").json()
        assert view["status"] in ("queued", "running", "awaiting_tenant"), view
        return view["status"] == "awaiting_tenant"

    _wait(probe, 420, f"dispute {dispute_id} awaiting its tenant", world["server"])


@pytest.fixture(scope="module")
def disputes(world):
    """Both disputes filed by the firms and run to settlement by the server."""
    tmp, firms = world["tmp"], world["firms"]
    markers = {"joint": leak.marker_sentence("joint"),
               "search": [leak.marker_sentence("search"), leak.marker_sentence("ledger")]}
    batnas = {OPENER: leak.marker_batna(2.0), JOINER: leak.marker_batna(1.0)}

    # The joint dispute: the opener writes the whole file, its ev-1 confidential, and splits
    # off the joiner's side (`dalrn split` keeps the item marked, with its text, on its side).
    _ok(_dalrn("evidence", "key", env=firms[JOINER]))  # the joiner's public key, so the opener can wrap for it
    whole = json.loads(json.dumps(SAMPLE))
    whole.update(id="leak-joint-001", tenant=OPENER)
    whole["parties"][0].update(tenant=OPENER, batna=batnas[OPENER])
    whole["parties"][1].update(tenant=JOINER, batna=batnas[JOINER])
    whole["evidence"][0].update(confidential=True, text=markers["joint"])
    (tmp / "whole.json").write_text(json.dumps(whole))
    opening, side = _ok(_dalrn("split", str(tmp / "whole.json"), "--out", str(tmp / "split"),
                               env=firms[OPENER])).split()
    shutil.copy(opening, tmp / "opening.json")
    shutil.copy(side, tmp / "globex-side.json")
    assert markers["joint"] not in (tmp / "globex-side.json").read_text()
    # The opening carries the opener's encrypted query, built on its machine from its own side's evidence.
    opened = json.loads(_ok(_dalrn("tenant", "prepare", str(tmp / "opening.json"), "--k", "3", "--json",
                                   env=firms[OPENER])))
    assert opened["status"] == "awaiting_parties" and set(opened["precedent_search"]) >= {"context_cid", "query_cid"}
    joined = json.loads(_ok(_dalrn("join", "leak-joint-001", str(tmp / "globex-side.json"), "--tenant", OPENER,
                                   "--json", env=firms[JOINER])))
    assert joined["waiting_for"] == []

    # The one-sided filing with the opener's encrypted precedent search, every item confidential.
    one_sided = {k: v for k, v in json.loads(json.dumps(SAMPLE)).items() if k != "tenant"}
    one_sided["id"] = "leak-search-001"
    for item, text in zip(one_sided["evidence"], markers["search"]):
        item.update(confidential=True, text=text)
    (tmp / "one-sided.json").write_text(json.dumps(one_sided))
    prepared = json.loads(_ok(_dalrn("tenant", "prepare", str(tmp / "one-sided.json"), "--k", "3", "--json",
                                     env=firms[OPENER])))
    revealed = {}
    for dispute_id in ("leak-joint-001", "leak-search-001"):  # each run paused for the opener's reveal
        _awaiting_tenant(world, OPENER, dispute_id)
        revealed[dispute_id] = json.loads(_ok(_dalrn("tenant", "respond", dispute_id, "--json", env=firms[OPENER])))
        assert len(revealed[dispute_id]["precedents"]) == 3, revealed[dispute_id]

    views = {"joint": _settled(world, OPENER, "leak-joint-001"), "search": _settled(world, OPENER, "leak-search-001")}
    return {"markers": markers, "batnas": batnas, "opened": opened, "prepared": prepared, "revealed": revealed,
            "views": views}


def _server_side(world) -> tuple[list[Path], dict[str, bytes]]:
    """Every file the server side wrote, and what Prefect's API gives the operator."""
    dump = world["tmp"] / "prefect-api.json"
    done = subprocess.run([sys.executable, "-m", "tests.integration.leak_operator", "dump", str(dump)],
                          check=False, env=world["operator_env"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    api = dump.read_bytes()
    assert b"leak-joint-001" in api and b"leak-search-001" in api  # the dump does cover both runs
    files = leak.files_under([world["server_home"], world["server_keys"]]) + [world["log"]]
    return files, {"prefect api": api}


def _counterparty_views(world) -> dict[str, bytes]:
    """All the joiner's API answers about the joint dispute (and what it may list)."""
    paths = ["/v1/disputes", "/v1/disputes/leak-joint-001", "/v1/disputes/leak-joint-001/memo",
             "/v1/disputes/leak-joint-001/receipts", "/v1/disputes/leak-joint-001/join",
             "/v1/disputes/leak-joint-001/evidence/ev-1", "/v1/disputes/leak-joint-001/evidence/ev-2"]
    views = {}
    for path in paths:
        answer = _get(world, JOINER, path, tenant=OPENER) if path != "/v1/disputes" else _get(world, JOINER, path)
        assert answer.status_code == 200, (path, answer.text)
        views[f"{JOINER} GET {path}"] = answer.content
    return views


def test_the_server_never_touched_a_tenant_folder_and_still_resolved(world, disputes):
    assert disputes["views"]["joint"]["status"] in ("resolved", "anchored")
    assert disputes["views"]["search"]["settlement"]["outcome"] == "equilibrium"
    guard_log = world["tmp"] / "guard.log"
    assert not guard_log.exists() or guard_log.read_text() == ""
    files, api = _server_side(world)
    homes = [str(m).encode() for m in world["machines"].values()]
    assert leak.holding([f for f in files if f.suffix != ".log"], homes, api) == []
    # The guard is live: a process under it cannot read the tenant's key.
    key_file = world["machines"][OPENER] / "tenant" / "keys" / f"envelope-{OPENER}.x25519"
    probe = subprocess.run([sys.executable, "-c", f"open({str(key_file)!r}, 'rb').read()"], check=False,
                           env={**os.environ, "PYTHONPATH": str(GUARD),
                                "DALRN_GUARDED_PATHS": str(world["machines"][OPENER]),
                                "DALRN_GUARD_LOG": str(world["tmp"] / "probe.log")}, capture_output=True, text=True)
    assert probe.returncode != 0 and "PermissionError" in probe.stderr and key_file.exists()


def test_confidential_evidence_and_its_embeddings_appear_nowhere_on_the_server(world, disputes):
    from dalrn_core.search.embed import Embedder, EmbeddingCache
    from dalrn_core.search.tenant_query import query_vector

    texts = [disputes["markers"]["joint"], *disputes["markers"]["search"]]
    reference = Embedder.with_cache(EmbeddingCache(world["tmp"] / "reference-cache"))
    # Each text alone, and the search dispute's two as the tenant embedded them (one batch): a
    # copy of either, bit for bit, would hold these bytes.
    alone = np.vstack([reference.encode([t]) for t in texts])
    batched = Embedder.with_cache(EmbeddingCache(world["tmp"] / "reference-batch")).encode(texts[1:])
    needles = [t.encode() for t in texts] + [m.encode() for t in texts for m in re.findall(r"[0-9a-f]{12,16}", t)]
    for vector in [*alone, *batched]:
        needles += leak.embedding_needles(vector)
    os.environ["DALRN_TENANT_HOME"], previous = str(world["tmp"] / "reference-tenant"), os.environ["DALRN_TENANT_HOME"]
    try:  # the tenant's queries: the mean of its own evidence embeddings (all confidential)
        needles += leak.embedding_needles(query_vector(disputes["markers"]["search"]))
        needles += leak.embedding_needles(query_vector([disputes["markers"]["joint"]]))
    finally:
        os.environ["DALRN_TENANT_HOME"] = previous
    files, api = _server_side(world)
    assert leak.holding(files, needles, {**api, **_counterparty_views(world)}) == []
    # And by meaning, whatever its last bits: no vector the server holds is any marker's embedding.
    held = leak.held_vectors(world["server_home"])
    assert held.shape[0] > 0 and float((held @ alone.T).max()) < 0.99
    # Controls: the same searches find them where they are, on the firms' machines.
    tenant_vectors = leak.held_vectors(world["machines"][OPENER] / "tenant")
    assert float((tenant_vectors @ alone[1:].T).max()) > 0.9999
    assert leak.holding([world["tmp"] / "one-sided.json"], [texts[1].encode()])
    # A reader of the joint dispute decrypts the opener's item on its own side.
    shown = json.loads(_ok(_dalrn("evidence", "show", "leak-joint-001", "ev-1", "--json",
                                  env=world["firms"][JOINER])))
    assert shown["text"] == disputes["markers"]["joint"] and shown["readers"] == [OPENER, JOINER]


def test_each_batna_appears_only_in_its_owners_views(world, disputes):
    files, api = _server_side(world)
    counterparty = _counterparty_views(world)
    owner_memo = _get(world, OPENER, "/v1/disputes/leak-joint-001/memo").json()["memo"]
    joiner_memo = json.loads(counterparty[f"{JOINER} GET /v1/disputes/leak-joint-001/memo"])["memo"]
    for owner, value in disputes["batnas"].items():
        other = JOINER if owner == OPENER else OPENER
        shown_as = format(value, ".4g")
        own_memo = owner_memo if owner == OPENER else joiner_memo
        other_memo = joiner_memo if owner == OPENER else owner_memo
        assert shown_as in own_memo, (owner, shown_as)
        assert shown_as not in other_memo, (other, shown_as)
        views = counterparty if owner == OPENER else {
            "opener memo": owner_memo.encode(),
            "opener view": _get(world, OPENER, "/v1/disputes/leak-joint-001").content,
            "opener receipts": _get(world, OPENER, "/v1/disputes/leak-joint-001/receipts").content}
        # Stored by the server only sealed (the sides): never its digits, as text or as a double.
        assert leak.holding(files, leak.batna_needles(value), {**api, **views}) == [], owner


def test_the_rpc_marker_appears_nowhere(world, disputes):
    files, api = _server_side(world)
    marker = world["rpc_marker"].encode()
    views = {**_counterparty_views(world), "opener view": _get(world, OPENER, "/v1/disputes/leak-joint-001").content}
    assert leak.holding(files, [marker, marker[:16]], {**api, **views}) == []


def test_the_servers_copy_of_the_query_matches_no_embedding_it_holds(world, disputes):
    """The old attack rebuilt the tenant's query as the mean of the evidence embeddings the
    server computed itself. Now, for the joint dispute (the opener's query from its own
    confidential item) as for the one-sided one, the server embedded none of the query's
    evidence (its embed receipt commits to the public items and the claims only), no vector
    it holds is near the query, and the mean of what it embedded for the dispute is not it."""
    from dalrn_core.evidence.store import LocalContentStore
    from dalrn_core.podp.canonical import digest_of
    from dalrn_core.search.embed import Embedder, EmbeddingCache
    from dalrn_core.search.index import PrecedentIndex

    reference = Embedder.with_cache(EmbeddingCache(world["tmp"] / "reference-cache"))
    held = leak.held_vectors(world["server_home"])
    assert held.shape[0] > 0, "the server's embedding cache holds the public texts it embedded"
    index = PrecedentIndex.latest(root=world["server_home"] / "index")
    precedents = index.vectors / np.linalg.norm(index.vectors, axis=1, keepdims=True)
    claims = [p["claim"] for p in SAMPLE["parties"]]
    public = SAMPLE["evidence"][1]["text"]  # the joint dispute's globex evidence, public
    cases = {"leak-joint-001": ([disputes["markers"]["joint"]], [public]),
             "leak-search-001": (disputes["markers"]["search"], [])}
    os.environ["DALRN_HOME"], previous = str(world["server_home"]), os.environ["DALRN_HOME"]
    try:
        store = LocalContentStore()
        steps = {}
        for dispute_id in cases:
            receipts = _get(world, OPENER, f"/v1/disputes/{dispute_id}/receipts").json()["receipts"]
            steps[dispute_id] = {r["step"]: r for r in (json.loads(store.get(c)) for c in receipts)}
    finally:
        os.environ["DALRN_HOME"] = previous
    for dispute_id, (own_texts, readable) in cases.items():
        query = reference.encode(own_texts).mean(axis=0)
        query /= np.linalg.norm(query)
        cosines = np.concatenate([held @ query, precedents @ query])
        assert cosines.max() < 0.9, (dispute_id, cosines.max())
        embed = steps[dispute_id]["embed"]
        assert embed["inputs"] == {"evidence": digest_of(readable), "claims": digest_of(claims)}, dispute_id
        # The attack itself: the mean of everything the server embedded for this dispute.
        rebuilt = reference.encode(readable + claims).mean(axis=0)
        assert float(rebuilt @ query / np.linalg.norm(rebuilt)) < 0.9, dispute_id
        assert steps[dispute_id]["encrypted_search"]["inputs"]["query"] == \
            (disputes["opened"] if dispute_id == "leak-joint-001" else disputes["prepared"])["precedent_search"][
                "query_cid"]
    # Control: for a public text the server's own copy is the tenant's embedding, found at once.
    mine = reference.encode([public])[0]
    assert float((held @ mine).max()) > 0.9999


def test_the_prefect_auth_string_and_key_material_appear_nowhere(world, disputes):
    import base64

    keys = leak.key_material([world["server_keys"], *(m / "tenant" for m in world["machines"].values())])
    names = {Path(k).name for k in keys}
    assert {"podp-ed25519.seed", "side-sealing.key", "gateway-audit.key"} <= names, names
    assert any(n.startswith("gateway-jwt-") for n in names) and any(n.startswith("envelope-") for n in names)
    assert any(n == "leak-joint-001.key" for n in names)  # the opener's data key of the joint dispute
    auth = f"dalrn:{world['auth_marker']}"
    needles = [world["auth_marker"].encode(), auth.encode(), base64.b64encode(auth.encode())]
    for raw in keys.values():
        needles += [raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")]
    # Everything the server holds but its key folder (where its keys and auth string belong).
    held, api = _server_side(world)
    files = [f for f in held if world["server_keys"] not in f.parents]
    views = {**_counterparty_views(world), "opener view": _get(world, OPENER, "/v1/disputes/leak-joint-001").content,
             "opener receipts": _get(world, OPENER, "/v1/disputes/leak-joint-001/receipts").content,
             "opener memo": _get(world, OPENER, "/v1/disputes/leak-joint-001/memo").content}
    assert leak.holding(files, needles, {**api, **views}) == []
    # Control: the same search finds the auth string where it belongs.
    assert leak.holding([world["server_keys"] / "prefect-api-auth"], needles[:1])

