"""Time to find all extreme equilibria of random games, 2x2 to 12x12 (seeded).

Each game goes through `negotiate` with the default 5 s hard limit, so the numbers include
the child-process start, exact verification and selection: what a dispute pays. Two payoff
kinds: uniform floats (non-degenerate almost surely) and integers 0..9 (ties, often
degenerate, solved exactly). `timed_out` counts games that hit the limit.
"""

from __future__ import annotations

import time

import numpy as np

from dalrn_core.negotiation.negotiate import negotiate

SIZES = (2, 3, 4, 6, 8, 10, 12)
QUICK_SIZES = (2, 4, 8, 12)
TIME_LIMIT_S = 5.0
PARAMETERS = {
    "sizes": {"full": list(SIZES), "quick": list(QUICK_SIZES)},
    "games_per_size": {"full": 10, "quick": 3},
    "time_limit_s": TIME_LIMIT_S,
    "seed": "1000 + size",
    "payoffs": ["float uniform [0, 1)", "integers 0-9"],
}


def _game(rng: np.random.Generator, kind: str, n: int) -> tuple[list, list]:
    if kind == "float":
        return rng.random((n, n)).tolist(), rng.random((n, n)).tolist()
    return rng.integers(0, 10, (n, n)).tolist(), rng.integers(0, 10, (n, n)).tolist()


def run(quick: bool) -> list[dict]:
    games = 3 if quick else 10
    rows = []
    for kind in ("float", "int0-9"):
        for n in QUICK_SIZES if quick else SIZES:
            rng = np.random.default_rng(1000 + n)
            times, counts, timeouts, complete = [], [], 0, 0
            for _ in range(games):
                a, b = _game(rng, kind, n)
                started = time.perf_counter()
                result = negotiate(a, b, time_limit_s=TIME_LIMIT_S)
                times.append((time.perf_counter() - started) * 1000)
                counts.append(len(result.equilibria))
                timeouts += result.timed_out
                complete += result.complete
            rows.append(
                {
                    "payoffs": kind,
                    "size": f"{n}x{n}",
                    "games": games,
                    "mean_ms": float(np.mean(times)),
                    "p95_ms": float(np.percentile(times, 95)),
                    "equilibria_mean": float(np.mean(counts)),
                    "timed_out": timeouts,
                    "complete": complete,
                }
            )
    return rows
