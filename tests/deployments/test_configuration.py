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


# Direct reads of `DALRN_*` variables that do not go through `dalrn_core.settings.setting`:
# the data folder is read before Prefect is imported (dalrn_cli.environment.configure), and
# the CLI's own reads are not yet routed. Any other direct read fails the test below.
DIRECT_READS = {
    ("dalrn_core/config.py", "DALRN_HOME"),
    ("dalrn_cli/main.py", "DALRN_DEBUG"),
    ("dalrn_cli/api_client.py", "DALRN_API_KEY"),
    ("dalrn_cli/submit.py", "DALRN_API_URL"),
    ("dalrn_cli/load.py", "DALRN_QUEUE_URL"),
}


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _setting_reads(tree: ast.AST) -> list[str]:
    """The variables of the `setting("field")` / `env_variable("field")` calls in a module."""
    return [("DALRN_" + node.args[0].value).upper() for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _name(node.func) in {"setting", "env_variable"} and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]


def _direct_reads(tree: ast.AST) -> list[str]:
    """The `DALRN_*` variables a module reads with os.environ.get / os.getenv / os.environ[...]."""
    constants = {target.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}

    def variable(arg: ast.AST) -> str:
        value = arg.value if isinstance(arg, ast.Constant) else constants.get(_name(arg), "")
        return value if isinstance(value, str) and VARIABLE.fullmatch(value) else ""

    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and node.args and (
                _name(node.func) == "getenv"
                or (_name(node.func) == "get" and isinstance(node.func, ast.Attribute)
                    and _name(node.func.value) == "environ"))):
            found.append(variable(node.args[0]))
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and _name(node.value) == "environ"):
            found.append(variable(node.slice))
    return [name for name in found if name]


def variables_named_in_code() -> dict[str, str]:
    """Every `DALRN_*` variable the product's code and shipped configs name, with where it is:
    string constants and the fields read with `setting(...)`."""
    found = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and VARIABLE.fullmatch(node.value):
                    found[node.value] = str(path.relative_to(ROOT))
            for name in _setting_reads(tree):
                found[name] = str(path.relative_to(ROOT))
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


def test_dalrn_variables_are_read_through_the_settings_model():
    direct = {(str(path.relative_to(ROOT)), name) for package in PRODUCT for path in (ROOT / package).rglob("*.py")
              for name in _direct_reads(ast.parse(path.read_text(), str(path)))}
    assert ("dalrn_core/config.py", "DALRN_HOME") in direct  # the scan sees a real direct read
    assert direct - DIRECT_READS == set(), "read these with dalrn_core.settings.setting(field)"


def test_one_setting_is_checked_by_its_own_rule(monkeypatch):
    from dalrn_core.negotiation.time_limit import _context
    from dalrn_core.queue import queue_url
    from dalrn_core.settings import field_of, setting

    monkeypatch.setenv("DALRN_CONTENT_STORE", "s3")  # bad, but not the option read below
    monkeypatch.setenv("DALRN_QUEUE_URL", "redis://127.0.0.1:6390/2")
    assert queue_url() == "redis://127.0.0.1:6390/2"
    monkeypatch.setenv("DALRN_QUEUE_URL", "")
    assert queue_url() is None
    assert setting("ckks_plaintext_cache_mb") == 256
    monkeypatch.setenv("DALRN_CKKS_PLAINTEXT_CACHE_MB", "-1")
    with pytest.raises(InputError, match="DALRN_CKKS_PLAINTEXT_CACHE_MB"):
        setting("ckks_plaintext_cache_mb")
    monkeypatch.setenv("DALRN_SOLVER_START_METHOD", "thread")
    with pytest.raises(InputError, match="DALRN_SOLVER_START_METHOD"):
        _context()
    monkeypatch.setenv("DALRN_SOLVER_START_METHOD", "spawn")
    assert _context().get_start_method() == "spawn"
    assert field_of("DALRN_SEPOLIA_RPC_URL") == "sepolia_rpc_url"
    with pytest.raises(KeyError):
        field_of("DALRN_NO_SUCH_OPTION")


def test_rpc_url_of_a_network_comes_from_its_setting(monkeypatch):
    from dalrn_core.chain.production import load_network

    monkeypatch.delenv("DALRN_SEPOLIA_RPC_URL", raising=False)
    with pytest.raises(InputError, match="DALRN_SEPOLIA_RPC_URL"):
        load_network("sepolia")
    monkeypatch.setenv("DALRN_SEPOLIA_RPC_URL", "https://sepolia.example/v3/key")
    assert load_network("sepolia").rpc_url == "https://sepolia.example/v3/key"


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


def test_settings_are_read_again_whenever_a_dalrn_variable_changes(monkeypatch):
    monkeypatch.setenv("DALRN_QUEUE_URL", "redis://127.0.0.1:6390/0")
    first = settings()
    assert first.queue_url == "redis://127.0.0.1:6390/0"
    first.queue_url = "redis://changed-by-a-caller"  # a caller's copy: not what the next one gets
    assert settings().queue_url == "redis://127.0.0.1:6390/0"
    monkeypatch.setenv("DALRN_QUEUE_URL", "redis://127.0.0.1:6391/0")
    assert settings().queue_url == "redis://127.0.0.1:6391/0"
    monkeypatch.setenv("DALRN_DEBUG", "1")
    assert settings().debug == "1"
    monkeypatch.delenv("DALRN_DEBUG")
    assert settings().debug == ""
