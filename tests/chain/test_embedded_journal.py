"""The embedded chain's journal after a crash: a torn last line is cut off and kept aside
(nobody was told that transaction happened), damage before the last line is refused by
file and line, and a torn header with nothing after it starts the journal again."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from dalrn_core.chain.anchor import AnchorClient, deploy_anchor_contract
from dalrn_core.chain.embedded import EmbeddedChain
from dalrn_core.errors import IntegrityError
from dalrn_core.podp.merkle import merkle_root


def _embedded(path, account) -> AnchorClient:
    chain = EmbeddedChain(path, [account.address])
    address_file = path.with_suffix(".address")
    if address_file.exists():
        address = address_file.read_text()
    else:
        address = deploy_anchor_contract(chain.w3, account, chain.send_raw_transaction)
        address_file.write_text(address)
    return AnchorClient(chain.w3, account, chain.send_raw_transaction, address)


def test_a_torn_last_journal_line_is_cut_off_and_kept_aside(tmp_path):
    account, journal = Account.create(), tmp_path / "journal.jsonl"
    first = merkle_root([b"\x01" * 32])
    _embedded(journal, account).anchor_root(first, 1, "x")
    intact = journal.read_bytes()
    with open(journal, "ab") as handle:
        handle.write(b'{"raw": "02f8b1827a69')  # the process died in the middle of this write
    client = _embedded(journal, account)  # opens: the torn line is cut, not a crash at every start
    assert client.is_anchored(first) and journal.read_bytes() == intact
    (kept,) = tmp_path.glob("journal.jsonl.torn-*")
    assert kept.read_bytes() == b'{"raw": "02f8b1827a69'
    second = merkle_root([b"\x02" * 32])
    client.anchor_root(second, 1, "x")
    again = _embedded(journal, account)
    assert again.is_anchored(first) and again.is_anchored(second)


def test_an_entry_that_lost_only_its_newline_was_never_acknowledged_and_is_cut(tmp_path):
    account, journal = Account.create(), tmp_path / "journal.jsonl"
    client = _embedded(journal, account)
    root = merkle_root([b"\x03" * 32])
    client.anchor_root(root, 1, "x")
    journal.write_bytes(journal.read_bytes()[:-1])  # the fsync that would have returned never did
    assert not _embedded(journal, account).is_anchored(root)


def test_damage_before_the_last_line_is_refused_naming_file_and_line(tmp_path):
    account, journal = Account.create(), tmp_path / "journal.jsonl"
    client = _embedded(journal, account)
    client.anchor_root(merkle_root([b"\x04" * 32]), 1, "x")
    lines = journal.read_bytes().split(b"\n")
    lines[1] = b'{"raw": "garbage'
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(IntegrityError, match=rf"journal {journal}, line 2: not a journal entry"):
        EmbeddedChain(journal, [account.address])


def test_a_torn_header_with_nothing_after_it_starts_the_journal_again(tmp_path):
    account, journal = Account.create(), tmp_path / "journal.jsonl"
    journal.write_bytes(b'{"kind": "dalrn.embedded-ch')
    chain = EmbeddedChain(journal, [account.address])
    assert json.loads(journal.read_text().splitlines()[0])["kind"] == "dalrn.embedded-chain/1"
    assert chain.w3.eth.get_balance(account.address) > 0
