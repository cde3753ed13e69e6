import math
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from opacus.accountants import RDPAccountant

from dalrn_core.config import data_dir
from dalrn_core.errors import InputError
from dalrn_core.fl.ledger import BudgetExceeded, PrivacyLedger, RoundCost
from dalrn_core.fl.privacy import epsilon
from tests.fl.ledger_worker import spend_once

COST = RoundCost(noise_multiplier=1.1, sample_rate=0.1, steps=10)


def _rounds_that_fit(cost, budget, delta=1e-5):
    k = 0
    while epsilon(cost.noise_multiplier, cost.sample_rate, cost.steps * (k + 1), delta) <= budget:
        k += 1
    return k


def test_default_file_is_under_data_dir():
    ledger = PrivacyLedger()
    assert ledger.path == data_dir() / "fl" / "ledger.sqlite"
    assert ledger.path.exists()
    assert ledger.budget("anyone") == (4.0, 1e-5)


def test_spend_composes_rounds_like_one_long_run(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite", epsilon_budget=100.0)
    for r in range(3):
        after = ledger.spend(["a", "b"], COST, f"round-{r}")
    assert after["a"] == pytest.approx(epsilon(1.1, 0.1, 30, 1e-5), rel=1e-12)
    assert ledger.spent("b") == pytest.approx(after["b"])
    assert [h["round_id"] for h in ledger.history("a")] == ["round-0", "round-1", "round-2"]


def test_mixed_rounds_match_opacus_accountant(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite", epsilon_budget=100.0)
    costs = [COST, RoundCost(2.0, 0.05, 40), RoundCost(0.9, 0.02, 25)]
    accountant = RDPAccountant()
    for i, c in enumerate(costs):
        ledger.spend(["a"], c, f"r{i}")
        accountant.history.append((c.noise_multiplier, c.sample_rate, c.steps))
    assert ledger.spent("a") == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-9)


def test_round_over_budget_is_refused_and_nothing_is_written(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite")
    fits = _rounds_that_fit(COST, 4.0)
    assert fits >= 1
    for r in range(fits):
        ledger.spend(["a"], COST, f"r{r}")
    before = ledger.spent("a")
    with pytest.raises(BudgetExceeded) as err:
        ledger.spend(["a"], COST, "one-too-many")
    assert err.value.problems[0].field == "tenant[a]"
    assert "budget 4.0" in err.value.problems[0].rule
    assert ledger.spent("a") == before and len(ledger.history("a")) == fits
    assert before <= 4.0


def test_all_or_nothing_across_tenants(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite")
    ledger.set_budget("poor", 0.5, 1e-5)
    with pytest.raises(BudgetExceeded) as err:
        ledger.spend(["rich", "poor"], COST, "r0")
    assert [p.field for p in err.value.problems] == ["tenant[poor]"]
    assert ledger.spent("rich") == 0.0 and ledger.history("rich") == []


def test_each_tenant_may_have_its_own_cost(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite")
    small = RoundCost(1.1, 0.1, 10)   # a firm with 400 rows, batch 40
    large = RoundCost(1.1, 0.02, 50)  # a firm with 2000 rows, batch 40
    after = ledger.spend(["small", "large"], {"small": small, "large": large}, "r0")
    assert after["small"] == pytest.approx(epsilon(1.1, 0.1, 10, 1e-5))
    assert after["large"] == pytest.approx(epsilon(1.1, 0.02, 50, 1e-5))
    assert ledger.history("large")[0]["sample_rate"] == 0.02
    with pytest.raises(InputError) as err:
        ledger.spend(["small", "other"], {"small": small}, "r1")
    assert err.value.problems[0].field == "cost[other]"


def test_survives_restart(tmp_path):
    path = tmp_path / "l.sqlite"
    PrivacyLedger(path).spend(["a"], COST, "r0")
    spent = PrivacyLedger(path).spent("a")
    assert spent == pytest.approx(epsilon(1.1, 0.1, 10, 1e-5))
    reopened = PrivacyLedger(path)
    reopened.spend(["a"], COST, "r1")
    assert PrivacyLedger(path).spent("a") == pytest.approx(epsilon(1.1, 0.1, 20, 1e-5))


def test_set_budget_only_before_first_spend(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite")
    ledger.set_budget("a", 8.0, 1e-6)
    assert ledger.budget("a") == (8.0, 1e-6)
    ledger.spend(["a"], COST, "r0")
    assert ledger.spent("a") == pytest.approx(epsilon(1.1, 0.1, 10, 1e-6))
    with pytest.raises(InputError) as err:
        ledger.set_budget("a", 9.0, 1e-6)
    assert err.value.problems[0].field == "tenant[a]"


def test_concurrent_threads_cannot_overspend(tmp_path):
    path = tmp_path / "l.sqlite"
    PrivacyLedger(path)  # create the schema once
    fits = _rounds_that_fit(COST, 4.0)
    start = threading.Barrier(24)

    def attempt(i):
        ledger = PrivacyLedger(path)
        start.wait()
        try:
            ledger.spend(["a", "b"], COST, f"thread-{i}")
            return True
        except BudgetExceeded:
            return False

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(attempt, range(24)))
    ledger = PrivacyLedger(path)
    assert sum(outcomes) == fits
    assert len(ledger.history("a")) == len(ledger.history("b")) == fits
    assert ledger.spent("a") <= 4.0


def test_concurrent_processes_cannot_overspend(tmp_path):
    path = str(tmp_path / "l.sqlite")
    PrivacyLedger(path)
    fits = _rounds_that_fit(COST, 4.0)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=ctx) as pool:
        outcomes = list(pool.map(spend_once, [path] * 16, range(16)))
    assert sum(outcomes) == fits
    assert len(PrivacyLedger(path).history("a")) == fits


@pytest.mark.parametrize("tenants, field", [([], "tenants"), (["a", "a"], "tenants"),
                                            ([""], "tenants[0]"), ("a", "tenants")])
def test_bad_tenants(tmp_path, tenants, field):
    with pytest.raises(InputError) as err:
        PrivacyLedger(tmp_path / "l.sqlite").spend(tenants, COST, "r")
    assert err.value.problems[0].field == field


def test_nonprivate_round_is_recorded_and_ends_the_budget(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.sqlite")
    private_eps = ledger.spend(["a", "b"], COST, "r0")["a"]
    assert ledger.record_nonprivate(["a"], "r1") == {"a": math.inf}
    assert [(h["round_id"], h["private"]) for h in ledger.history("a")] == [("r0", True), ("r1", False)]
    assert ledger.history("a")[1]["epsilon_after"] == math.inf
    assert ledger.spent("a") == math.inf and ledger.remaining("a") == 0.0
    assert ledger.would_spend("a", COST) == math.inf
    assert ledger.spent("b") == pytest.approx(private_eps)  # b was not in the round
    # A later private round that includes `a` is refused for `a` alone; nothing is written.
    with pytest.raises(BudgetExceeded) as err:
        ledger.spend(["a", "b"], COST, "r2")
    assert [p.field for p in err.value.problems] == ["tenant[a]"]
    assert "without differential privacy" in err.value.problems[0].rule
    assert len(ledger.history("b")) == 1
    # The record survives reopening the file.
    assert PrivacyLedger(tmp_path / "l.sqlite").spent("a") == math.inf


def test_ledger_written_before_nonprivate_rounds_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE budgets (tenant TEXT PRIMARY KEY, epsilon_budget REAL NOT NULL, "
        "delta REAL NOT NULL, rdp TEXT NOT NULL, spent_epsilon REAL NOT NULL);"
        "CREATE TABLE spends (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, "
        "round_id TEXT NOT NULL, noise_multiplier REAL NOT NULL, sample_rate REAL NOT NULL, "
        "steps INTEGER NOT NULL, epsilon_after REAL NOT NULL, created_at REAL NOT NULL);")
    conn.close()
    ledger = PrivacyLedger(path)
    ledger.spend(["a"], COST, "r0")
    ledger.record_nonprivate(["a"], "r1")
    assert [h["private"] for h in ledger.history("a")] == [True, False]
