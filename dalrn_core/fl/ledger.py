"""Per-tenant privacy budget ledger in SQLite, with an atomic check-and-spend.

Each tenant (a firm whose private data trains the shared model) has a budget (epsilon,
delta), by default (4.0, 1e-5). The ledger keeps the tenant's composed RDP curve: RDP adds
up across every round, whatever its noise and sampling rate (Mironov 2017, Proposition 1),
so the epsilon spent is always computed from the whole history, never by adding epsilons.

A round asks to spend for all its tenants at once. Inside one `BEGIN IMMEDIATE`
transaction (SQLite's write lock, taken before reading) the ledger reads every tenant's
curve, adds the round's cost, and either writes all new curves or none: a round that would
take any tenant over budget is refused before training, and two concurrent rounds can
never both pass the check on the same stale balance. The ledger is a file, so it survives
restarts.

A round trained without DP is recorded too (`record_nonprivate`), as a spend marked
`private = 0` with epsilon infinite: the firms' rows were used with no privacy guarantee,
so from then on no finite epsilon bounds what the models reveal about them, and every
later private round for those tenants is refused (their budget is gone, not just lower).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np

from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError, Problem
from dalrn_core.fl.privacy import DEFAULT_ORDERS, epsilon_from_rdp, rdp

DEFAULT_EPSILON = 4.0
DEFAULT_DELTA = 1e-5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    tenant TEXT PRIMARY KEY,
    epsilon_budget REAL NOT NULL,
    delta REAL NOT NULL,
    rdp TEXT NOT NULL,            -- JSON list, composed RDP at DEFAULT_ORDERS
    spent_epsilon REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL REFERENCES budgets(tenant),
    round_id TEXT NOT NULL,
    noise_multiplier REAL NOT NULL,
    sample_rate REAL NOT NULL,
    steps INTEGER NOT NULL,
    epsilon_after REAL NOT NULL,
    created_at REAL NOT NULL,
    private INTEGER NOT NULL DEFAULT 1   -- 0: trained without DP, epsilon_after is inf
);
"""


class Spend(TypedDict):
    """One recorded spend of a tenant (a non-private round has `private` False, epsilon inf)."""

    round_id: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon_after: float
    private: bool


class BudgetExceeded(InputError):
    """A round was refused: it would take a tenant over its privacy budget."""


@dataclass(frozen=True)
class RoundCost:
    """What one round of DP-SGD costs each tenant: `steps` SGM steps at (sigma, q)."""

    noise_multiplier: float
    sample_rate: float
    steps: int

    def rdp(self) -> np.ndarray:
        """The round's RDP curve at DEFAULT_ORDERS."""
        return rdp(self.noise_multiplier, self.sample_rate, self.steps)


def default_path() -> Path:
    """`data_dir()/fl/ledger.sqlite`."""
    return sub_dir("fl") / "ledger.sqlite"


class PrivacyLedger:
    """Privacy budgets of many tenants in one SQLite file.

    Parameters
    ----------
    path : path-like, optional
        The database file; `default_path()` when omitted.
    epsilon_budget, delta : float
        Budget given to a tenant the first time it is seen.
    """

    def __init__(self, path: str | Path | None = None, *,
                 epsilon_budget: float = DEFAULT_EPSILON, delta: float = DEFAULT_DELTA) -> None:
        _check_budget(epsilon_budget, delta)
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.epsilon_budget = float(epsilon_budget)
        self.delta = float(delta)
        conn = self._connect()
        try:
            # WAL lets readers (spent, history) proceed while a round holds the write lock.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(spends)")}
            if "private" not in columns:  # a ledger written before non-private rounds
                conn.execute("ALTER TABLE spends ADD COLUMN private INTEGER NOT NULL DEFAULT 1")
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        # One connection per call: safe across threads and processes. isolation_level=None
        # lets us issue BEGIN IMMEDIATE ourselves; the timeout makes writers queue.
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): committed on success, rolled back on any error."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def spend(self, tenants: Sequence[str], cost: RoundCost | Mapping[str, RoundCost],
              round_id: str) -> dict[str, float]:
        """Atomically charge `cost` to every tenant, or to none of them.

        Parameters
        ----------
        tenants : sequence of str
            Every tenant whose data the round trains on.
        cost : RoundCost, or a mapping from each tenant to its own RoundCost
            The round's DP-SGD parameters (firms with different row counts sample at
            different rates, so each may have its own cost).
        round_id : str
            Recorded with each spend, for audit.

        Returns
        -------
        dict
            Each tenant's epsilon spent after this round.

        Raises
        ------
        BudgetExceeded
            Naming every tenant that the round would take over budget; nothing is written.
        """
        names = _check_tenants(tenants)
        costs = _per_tenant(names, cost)
        # Curves computed before taking the write lock, to hold it as briefly as possible.
        extras = {tenant: c.rdp() for tenant, c in costs.items()}
        with self._write() as conn:
            after: dict[str, float] = {}
            updates = []
            problems = []
            for tenant in names:
                budget, delta, curve = self._row(conn, tenant)
                new_curve = curve + extras[tenant]
                eps = epsilon_from_rdp(new_curve, delta)
                if _has_nonprivate(conn, tenant):
                    problems.append(Problem(
                        f"tenant[{tenant}]",
                        "its rows trained a round without differential privacy, so no "
                        "finite epsilon is left to spend; refused before training"))
                    continue
                if eps > budget:
                    problems.append(Problem(
                        f"tenant[{tenant}]",
                        f"round would spend epsilon to {eps:.4f} > budget {budget} "
                        f"(delta {delta:g}); refused before training"))
                after[tenant] = eps
                updates.append((tenant, budget, delta, new_curve, eps))
            if problems:
                raise BudgetExceeded(problems, subject="privacy budget")
            now = time.time()
            for tenant, budget, delta, new_curve, eps in updates:
                conn.execute(
                    "INSERT INTO budgets (tenant, epsilon_budget, delta, rdp, spent_epsilon) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant) DO UPDATE SET "
                    "rdp = excluded.rdp, spent_epsilon = excluded.spent_epsilon",
                    (tenant, budget, delta, json.dumps(new_curve.tolist()), eps))
                conn.execute(
                    "INSERT INTO spends (tenant, round_id, noise_multiplier, sample_rate, "
                    "steps, epsilon_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (tenant, round_id, costs[tenant].noise_multiplier,
                     costs[tenant].sample_rate, costs[tenant].steps, eps, now))
        return after

    def record_nonprivate(self, tenants: Sequence[str], round_id: str) -> dict[str, float]:
        """Record a round trained without DP for every tenant: epsilon spent becomes inf.

        Returns each tenant's epsilon spent after the round (infinite).
        """
        names = _check_tenants(tenants)
        with self._write() as conn:
            now = time.time()
            for tenant in names:
                budget, delta, curve = self._row(conn, tenant)
                # The RDP curve stays as the private rounds left it (so their record
                # stays checkable); spent_epsilon says what holds now: nothing bounds it.
                conn.execute(
                    "INSERT INTO budgets (tenant, epsilon_budget, delta, rdp, spent_epsilon) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant) DO UPDATE SET "
                    "spent_epsilon = excluded.spent_epsilon",
                    (tenant, budget, delta, json.dumps(curve.tolist()), math.inf))
                conn.execute(
                    "INSERT INTO spends (tenant, round_id, noise_multiplier, sample_rate, "
                    "steps, epsilon_after, created_at, private) VALUES (?, ?, 0, 0, 0, ?, ?, 0)",
                    (tenant, round_id, math.inf, now))
        return {tenant: math.inf for tenant in names}

    def _row(self, conn: sqlite3.Connection, tenant: str) -> tuple[float, float, np.ndarray]:
        row = conn.execute("SELECT epsilon_budget, delta, rdp FROM budgets WHERE tenant = ?",
                           (tenant,)).fetchone()
        if row is None:
            return self.epsilon_budget, self.delta, np.zeros(len(DEFAULT_ORDERS))
        return float(row[0]), float(row[1]), np.asarray(json.loads(row[2]), dtype=np.float64)

    def would_spend(self, tenant: str, cost: RoundCost) -> float:
        """Epsilon the tenant would have spent after `cost` (reads only, no reservation)."""
        conn = self._connect()
        try:
            name = _check_tenants([tenant])[0]
            _, delta, curve = self._row(conn, name)
            if _has_nonprivate(conn, name):
                return math.inf
        finally:
            conn.close()
        return epsilon_from_rdp(curve + cost.rdp(), delta)

    def spent(self, tenant: str) -> float:
        """Epsilon spent so far by `tenant` (0 for a tenant never charged)."""
        conn = self._connect()
        try:
            row = conn.execute("SELECT spent_epsilon FROM budgets WHERE tenant = ?",
                               (tenant,)).fetchone()
        finally:
            conn.close()
        return 0.0 if row is None else float(row[0])

    def budget(self, tenant: str) -> tuple[float, float]:
        """The tenant's (epsilon, delta) budget."""
        conn = self._connect()
        try:
            budget, delta, _ = self._row(conn, tenant)
        finally:
            conn.close()
        return budget, delta

    def remaining(self, tenant: str) -> float:
        """Epsilon the tenant may still spend."""
        return max(0.0, self.budget(tenant)[0] - self.spent(tenant))

    def set_budget(self, tenant: str, epsilon_budget: float, delta: float) -> None:
        """Give `tenant` its own budget; only before its first spend (delta is then fixed)."""
        name = _check_tenants([tenant])[0]
        _check_budget(epsilon_budget, delta)
        with self._write() as conn:
            spent = conn.execute("SELECT COUNT(*) FROM spends WHERE tenant = ?",
                                 (name,)).fetchone()[0]
            if spent:
                raise InputError.one(f"tenant[{name}]",
                                     "budget can only be set before the first spend")
            conn.execute(
                "INSERT INTO budgets (tenant, epsilon_budget, delta, rdp, spent_epsilon) "
                "VALUES (?, ?, ?, ?, 0) ON CONFLICT(tenant) DO UPDATE SET "
                "epsilon_budget = excluded.epsilon_budget, delta = excluded.delta",
                (name, float(epsilon_budget), float(delta),
                 json.dumps([0.0] * len(DEFAULT_ORDERS))))

    def history(self, tenant: str) -> list[Spend]:
        """Every spend of `tenant`, oldest first."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT round_id, noise_multiplier, sample_rate, steps, epsilon_after, private "
                "FROM spends WHERE tenant = ? ORDER BY id", (tenant,)).fetchall()
        finally:
            conn.close()
        return [Spend(round_id=r[0], noise_multiplier=r[1], sample_rate=r[2], steps=r[3],
                      epsilon_after=r[4], private=bool(r[5])) for r in rows]


def _check_budget(epsilon_budget: float, delta: float) -> None:
    if not (isinstance(epsilon_budget, (int, float)) and epsilon_budget > 0):
        raise InputError.one("epsilon_budget", "must be a number > 0")
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise InputError.one("delta", "must be a number with 0 < delta < 1")


def _has_nonprivate(conn: sqlite3.Connection, tenant: str) -> bool:
    return conn.execute("SELECT 1 FROM spends WHERE tenant = ? AND private = 0 LIMIT 1",
                        (tenant,)).fetchone() is not None


def _per_tenant(names: list[str], cost: RoundCost | Mapping[str, RoundCost]
                ) -> dict[str, RoundCost]:
    if isinstance(cost, RoundCost):
        return {name: cost for name in names}
    if not isinstance(cost, Mapping):
        raise InputError.one("cost", "must be a RoundCost or a mapping tenant -> RoundCost")
    missing = [n for n in names if n not in cost]
    if missing:
        raise InputError.one(f"cost[{missing[0]}]", "every tenant needs a cost")
    for name in names:
        if not isinstance(cost[name], RoundCost):
            raise InputError.one(f"cost[{name}]", "must be a RoundCost")
    return {name: cost[name] for name in names}


def _check_tenants(tenants: Sequence[str]) -> list[str]:
    if isinstance(tenants, str) or not tenants:
        raise InputError.one("tenants", "must be a non-empty list of tenant names")
    names = list(tenants)
    for i, t in enumerate(names):
        if not isinstance(t, str) or not t.strip():
            raise InputError.one(f"tenants[{i}]", "must be a non-empty string")
    if len(set(names)) != len(names):
        raise InputError.one("tenants", "must not repeat a tenant")
    return names
