"""Records survive concurrent updates; served runs persist their results on a storage block."""

from __future__ import annotations

import threading

from dalrn_core.dispute.records import load_record, update_record


def test_concurrent_record_updates_lose_nothing(data_home):
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait(timeout=10)
        for j in range(25):
            update_record("rec-race", **{f"w{i}-{j}": j})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    record = load_record("rec-race")
    assert {k for k in record if k.startswith("w")} == {f"w{i}-{j}" for i in range(8) for j in range(25)}
    assert not list((data_home / "disputes" / "rec-race").glob("*.tmp*"))  # no torn temporary left


def test_served_runs_persist_results_on_the_local_storage_block(harness, monkeypatch, tmp_path):
    from prefect import flow, task
    from prefect.cache_policies import INPUTS
    from prefect.filesystems import LocalFileSystem
    from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings

    from dalrn_core.config import data_dir
    from deployments.served import (
        LOCAL_RESULT_BLOCK,
        RESULT_STORAGE_SETTING,
        durable_runs_environment,
    )

    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    for name in (RESULT_STORAGE_SETTING, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        monkeypatch.setenv(name, "")  # so monkeypatch restores what durable_runs_environment sets
        monkeypatch.delenv(name)
    settings = durable_runs_environment()
    folder = data_dir() / "prefect" / "storage"
    assert settings == {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
                        RESULT_STORAGE_SETTING: f"local-file-system/{LOCAL_RESULT_BLOCK}"}
    assert LocalFileSystem.load(LOCAL_RESULT_BLOCK).basepath == str(folder)

    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        return x * x

    @flow
    def squares() -> int:
        return square(12)

    with temporary_settings(updates={PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: settings[RESULT_STORAGE_SETTING]}):
        assert squares() == 144
    assert [p for p in folder.iterdir() if p.is_file()]  # the task's result, where a re-run finds it

    monkeypatch.setenv(RESULT_STORAGE_SETTING, "remote-file-system/shared-results")
    assert durable_runs_environment()[RESULT_STORAGE_SETTING] == "remote-file-system/shared-results"


def test_the_gateway_database_commits_survive_a_power_cut(tmp_path):
    from sqlalchemy import text

    from gateway.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL: fsync at every commit
    engine.dispose()
