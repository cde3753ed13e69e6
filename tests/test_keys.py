"""Key files: many processes creating the same key at once all end up with one whole key."""

from __future__ import annotations

import os
from multiprocessing import get_context


def _load(_: int) -> bytes:
    from dalrn_core.keys import load_or_create

    return load_or_create("raced-key", lambda: os.urandom(32))


def test_processes_creating_one_key_at_once_all_read_the_same_whole_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path))
    with get_context("fork").Pool(6) as pool:
        keys = pool.map(_load, range(48))
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert sorted(os.listdir(tmp_path)) == ["raced-key"]  # no draft left behind
    assert (tmp_path / "raced-key").stat().st_mode & 0o777 == 0o600
