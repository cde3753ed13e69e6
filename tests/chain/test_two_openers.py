"""Two processes share the embedded chain's journal: what one anchored, the other must see
before it decides and signs (its replay of the journal is otherwise as old as its opening)."""

from __future__ import annotations

import os

from dalrn_core.chain.local import open_embedded_anchor


def test_a_client_opened_earlier_sees_the_others_anchor_and_signs_with_a_fresh_nonce(data_home):
    early, late = open_embedded_anchor(), open_embedded_anchor()
    first, second = os.urandom(32), os.urandom(32)
    late.anchor_root(first, 1, "ipfs://first")

    assert not early.already_anchored(first)  # its replay predates the other's transaction
    early.sync()
    assert early.already_anchored(first)
    anchored = early.anchor_root(second, 1, "ipfs://second")  # nonce taken after the other's
    assert anchored.tx_hash
    late.sync()
    assert late.already_anchored(second)
