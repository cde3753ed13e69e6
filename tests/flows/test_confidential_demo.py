"""The embedded demo plays both roles with separate folders: `dalrn resolve` on the example
with a confidential item, as one process with `DALRN_TENANT_HOME` for the tenant and
`DALRN_HOME` (which holds Prefect's database and results too) for the server. Afterwards no
sentence of the confidential text, no copy of its MiniLM embedding and none of the tenant's
keys is anywhere in the server's folders; the memo names the item by its envelope's CID."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dalrn_core.evidence.envelope import read_header
from dalrn_core.search.embed import Embedder, EmbeddingCache

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract-confidential.json"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _confidential_text() -> str:
    (item,) = [e for e in json.loads(EXAMPLE.read_text())["evidence"] if e.get("confidential")]
    return item["text"]


def embedding_needles(text: str, cache_root: Path) -> list[bytes]:
    """Bytes any stored copy of `text`'s MiniLM embedding would hold: slices of its float32
    bytes (as the cache and numpy keep them) and its values as JSON or Python print them."""
    vector = Embedder.with_cache(EmbeddingCache(cache_root)).encode([text])[0]
    raw = np.asarray(vector, dtype="<f4").tobytes()
    needles = [raw[at:at + 64] for at in (0, len(raw) // 2, len(raw) - 64)]
    needles += [json.dumps(float(v)).encode() for v in vector[:3] if len(repr(float(v))) > 10]
    return needles


def files_holding(roots: list[Path], needles: list[bytes]) -> list[str]:
    found = []
    for root in roots:
        for path in (p for p in Path(root).rglob("*") if p.is_file()):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [f"{path} holds needle {i} ({needle[:40]!r})" for i, needle in enumerate(needles) if needle in data]
    return found


def stored_vectors(roots: list[Path], dim: int = 384) -> list[np.ndarray]:
    """Every file that is one raw float32 vector of `dim` (as the embedding caches store them)."""
    return [np.frombuffer(p.read_bytes(), dtype="<f4") for root in roots for p in Path(root).rglob("*")
            if p.is_file() and p.stat().st_size == dim * 4]


def max_cosine(vectors: list[np.ndarray], target: np.ndarray) -> float:
    target = target / np.linalg.norm(target)
    return max((float(v @ target / (np.linalg.norm(v) or 1.0)) for v in vectors), default=0.0)


def sentences(text: str) -> list[bytes]:
    return [s.strip().encode() for s in re.split(r"(?<=\.)\s+", text) if s.strip()]


def test_the_demo_keeps_confidential_evidence_out_of_the_server_folders(tmp_path, small_index):
    server_home, server_keys, tenant_home = tmp_path / "server", tmp_path / "server-keys", tmp_path / "tenant"
    shutil.copytree(Path(os.environ["DALRN_HOME"]) / "index", server_home / "index")  # the session's built index
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "DALRN_EMBEDDINGS_DIR"}
    env.update(DALRN_HOME=str(server_home), DALRN_KEYS_DIR=str(server_keys), DALRN_TENANT_HOME=str(tenant_home),
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    done = subprocess.run([sys.executable, "-m", "dalrn_cli.main", "resolve", str(EXAMPLE), "--json"], env=env,
                          capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["settlement"]["terms"] == {"acme": "accept credit and cure", "globex": "offer credit and relicense"}
    assert len(result["precedents"]) == 5  # the tenant's query was built and answered
    assert (server_home / "prefect").is_dir()  # Prefect's database and results are in the searched folder

    # The tenant's keys are in its own folder only.
    assert sorted(p.name for p in (tenant_home / "keys").iterdir()) == \
        ["envelope-acme-legal.x25519", "tenant-acme-legal.ckks"]
    server_roots = [server_home, server_keys]
    names = {p.name for root in server_roots for p in root.rglob("*")}
    assert not names & {"envelope-acme-legal.x25519", "tenant-acme-legal.ckks", "acme-legal"}
    tenant_secrets = [(tenant_home / "keys" / "envelope-acme-legal.x25519").read_bytes()]
    tenant_secrets += [p.read_bytes() for p in (tenant_home / "disputes").rglob("*.key")]
    text = _confidential_text()
    needles = sentences(text) + embedding_needles(text, tmp_path / "reference-cache") + tenant_secrets
    assert len(sentences(text)) == 3
    assert files_holding(server_roots, needles) == []
    # Bytes can differ in the last bits between processes (threads, batching): compare vectors too.
    reference = np.asarray(Embedder.with_cache(EmbeddingCache(tmp_path / "reference-cache")).encode([text])[0])
    assert max_cosine(stored_vectors(server_roots), reference) < 0.99
    assert str(tenant_home).encode() not in b"".join(p.read_bytes() for p in server_home.rglob("*.json"))

    # The memo names the item by its envelope, which the server holds but cannot open.
    from dalrn_core.evidence.store import LocalContentStore

    os.environ["DALRN_HOME"], previous = str(server_home), os.environ["DALRN_HOME"]
    try:
        store = LocalContentStore()
        memo = json.loads(store.get(result["memo_cid"]))
        (item,) = [e for e in memo["evidence"] if e["id"] == "ev-1a"]
        header = read_header(store.get(item["cid"]))
        assert (header.tenant, header.dispute, header.evidence, header.recipients) == \
            ("acme-legal", "acme-globex-2026-002", "ev-1a", ("acme-legal",))
        assert item["closest_precedents"] == []  # the server holds no embedding of it to compare
    finally:
        os.environ["DALRN_HOME"] = previous
    # A control: the same search finds the sentences where they are (the tenant's own file).
    assert files_holding([EXAMPLE.parent], sentences(text)[:1])
    assert max_cosine(stored_vectors([tenant_home]), reference) > 0.999
