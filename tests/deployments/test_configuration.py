"""The settings models: the generated page is current, every variable the code reads is in it,
and the content store and chain are the ones the environment chooses."""

import ast
import json
import re

import pytest

from blocks.evidence_store import content_store
from dalrn_core.errors import InputError
from dalrn_core.evidence.ipfs import IpfsContentStore
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.settings import settings
from deployments.settings_doc import PAGE, ROOT, documented_variables, main, render

PRODUCT = ["dalrn_core", "dalrn_cli", "flows", "tasks", "blocks", "gateway", "deployments"]
VARIABLE = re.compile(r"DALRN_[A-Z0-9_]*[A-Z0-9]")


def variables_named_in_code() -> dict[str, str]:
    """Every `DALRN_*` string constant in the product's code and shipped configs, with where it is."""
    found = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and VARIABLE.fullmatch(node.value):
                    found[node.value] = str(path.relative_to(ROOT))
    for path in (ROOT / "dalrn_core" / "chain" / "networks").glob("*.json"):
        rpc = json.loads(path.read_text()).get("rpc_url", "")
        if rpc.startswith("env:"):
            found[rpc.removeprefix("env:")] = str(path.relative_to(ROOT))
    return found


def test_configuration_page_is_current():
    assert PAGE.read_text() == render(), "run python -m deployments.settings_doc"
    assert main(["--check"]) == 0


def test_every_variable_the_code_reads_is_documented():
    named = variables_named_in_code()
    assert {"DALRN_HOME", "DALRN_KEYS_DIR", "DALRN_SEPOLIA_RPC_URL", "DALRN_SOLVER_START_METHOD"} <= set(named)
    missing = {name: where for name, where in named.items() if name not in documented_variables()}
    assert missing == {}, "add these to a settings model (dalrn_core/settings.py) and regenerate the page"


def test_every_documented_variable_is_on_the_page():
    page = PAGE.read_text()
    assert all(f"`{name}`" in page for name in documented_variables())


def test_content_store_follows_the_environment(data_home, monkeypatch, tmp_path):
    assert isinstance(content_store(), LocalContentStore)
    assert content_store().root == data_home / "content"
    monkeypatch.setenv("DALRN_CONTENT_STORE_PATH", str(tmp_path / "elsewhere"))
    cid = content_store().put(b"chosen by configuration")
    assert (tmp_path / "elsewhere" / cid[-2:] / cid).read_bytes() == b"chosen by configuration"
    monkeypatch.setenv("DALRN_CONTENT_STORE", "ipfs")
    monkeypatch.setenv("DALRN_IPFS_API_URL", "http://127.0.0.1:15001/")
    monkeypatch.setenv("DALRN_IPFS_TIMEOUT_S", "7.5")
    store = content_store()
    assert isinstance(store, IpfsContentStore)
    assert (store.api_url, store.timeout) == ("http://127.0.0.1:15001", 7.5)


def test_bad_setting_names_its_variable(monkeypatch):
    monkeypatch.setenv("DALRN_CONTENT_STORE", "s3")
    with pytest.raises(InputError) as caught:
        content_store()
    assert "DALRN_CONTENT_STORE" in str(caught.value) and "'local' or 'ipfs'" in str(caught.value)
    monkeypatch.setenv("DALRN_CONTENT_STORE", "")  # empty is unset: the default
    monkeypatch.setenv("DALRN_IPFS_TIMEOUT_S", "0")
    with pytest.raises(InputError, match="DALRN_IPFS_TIMEOUT_S"):
        settings()


def test_chain_block_comes_from_the_environment(harness, data_home, monkeypatch):
    from blocks.chain import anchor_client

    monkeypatch.setenv("DALRN_CHAIN_BLOCK", "no-such-chain-configured")
    with pytest.raises(ValueError, match="no-such-chain-configured"):
        anchor_client()
