"""Two processes share the embedded chain's journal: what one anchored, the other must see
before it decides and signs (its replay of the journal is otherwise as old as its opening)."""

from __future__ import annotations

import os

from dalrn_core.chain.local import open_embedded_anchor


def test_a_client_opened_earlier_sees_the_others_anchor_and_signs_with_a_fresh_nonce(data_home):
    early, late = open_embedded_anchor(own=True), open_embedded_anchor(own=True)  # as two processes would
    first, second = os.urandom(32), os.urandom(32)
    late.anchor_root(first, 1, "ipfs://first")

    assert not early.already_anchored(first)  # its replay predates the other's transaction
    early.sync()
    assert early.already_anchored(first)
    anchored = early.anchor_root(second, 1, "ipfs://second")  # nonce taken after the other's
    assert anchored.tx_hash
    late.sync()
    assert late.already_anchored(second)


def test_every_process_replays_the_same_block_hashes_so_no_reorg_is_seen_where_none_was(data_home):
    """A block hash one process recorded (an anchor's, a proof's) is the one a process
    opened later reads: the re-check finds the anchor still included and repairs nothing."""
    import subprocess
    import sys

    from dalrn_core.chain.production import still_included

    anchored = open_embedded_anchor().anchor_root(os.urandom(32), 1, "ipfs://one")
    read = ("from dalrn_core.chain.local import open_embedded_anchor; "
            f"print(open_embedded_anchor().w3.eth.get_block({anchored.block_number})['hash'].hex())")
    elsewhere = subprocess.run(
        [sys.executable, "-c", read],
        capture_output=True, text=True, timeout=120, check=True, env=os.environ)
    assert elsewhere.stdout.strip().removeprefix("0x") == anchored.block_hash.removeprefix("0x")
    reopened = open_embedded_anchor()
    assert still_included(reopened.w3, anchored.tx_hash, anchored.block_hash)


def test_a_process_opens_the_chain_once_and_sees_what_others_appended(data_home):
    shared = open_embedded_anchor()
    other = open_embedded_anchor(own=True)  # another process's client
    root = os.urandom(32)
    other.anchor_root(root, 1, "ipfs://elsewhere")
    again = open_embedded_anchor()
    assert again is shared and again.already_anchored(root)  # brought up to date, not replayed
