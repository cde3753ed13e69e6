"""The anchorer's key date is exported beside the JWT and receipt keys' (DalrnKeyRotationDue)."""

from __future__ import annotations

import os
import time

import pytest
from eth_account import Account
from prometheus_client import REGISTRY

from dalrn_core.chain.local import ANCHORER_KEY_FILE, open_embedded_anchor
from dalrn_core.keys import keys_dir
from dalrn_core.observability.key_dates import record_key_created


def _anchorer_created() -> float | None:
    return REGISTRY.get_sample_value("dalrn_key_created_timestamp_seconds", {"key": "anchorer"})


def test_embedded_anchorer_key_date_is_its_file_date(home):
    open_embedded_anchor()  # makes the key file
    path = keys_dir() / ANCHORER_KEY_FILE
    made = time.time() - 200 * 86400
    os.utime(path, (made, made))  # a key made 200 days ago
    open_embedded_anchor()
    assert _anchorer_created() == pytest.approx(made)
    assert time.time() - _anchorer_created() > 180 * 86400  # what DalrnKeyRotationDue tests


def test_anchorer_key_from_a_secret_block_is_dated_by_its_save(harness, home):
    from prefect.blocks.system import Secret

    from blocks.chain import AnchorChain

    before = time.time()
    key = Account.create()
    Secret(value=key.key.hex()).save("test-dated-anchorer-key", overwrite=True)
    chain = AnchorChain(name="amoy", kind="rpc", network="polygon-amoy", rpc_url="http://127.0.0.1:9",
                        contract_address="0x" + "33" * 20, key_secret="test-dated-anchorer-key")
    assert chain.open_one().account.address == key.address
    assert before - 5 <= _anchorer_created() <= time.time() + 5


def test_only_known_keys_are_dated():
    with pytest.raises(ValueError, match="unknown key"):
        record_key_created("anchor", 0.0)
