"""Synthetic private data of each firm (silo) for the settlement-acceptance model.

Each row is one settlement offer made in a dispute, with the features a mediator sees and
whether the receiving party accepted. All firms share one acceptance behaviour (a logistic
ground truth), but every firm sees a different slice of disputes (covariate shift: its own
feature means and spreads, e.g. a firm of large commercial claims versus a firm of small
consumer claims), so the silos are non-IID and a model trained on one firm alone
generalises poorly to the others. Everything is drawn from `numpy.random.default_rng`
seeded by (seed, silo), so the data are reproducible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dalrn_core.errors import InputError

#: Model inputs, in column order.
FEATURES: tuple[str, ...] = (
    "log_claim",         # log10 of the amount claimed, centred on 1e4
    "offer_ratio",       # offer / claim
    "days_open",         # dispute age in units of 100 days
    "evidence_strength",  # 0..1 score of the claimant's evidence
    "prior_disputes",    # earlier disputes between the same parties
    "mediator_rating",   # 0..1 rating of the assigned mediator
)
LABEL = "accepted"

# Ground truth shared by all firms: the acceptance log-odds.
_TRUE_WEIGHTS = np.array([-2.0, 9.0, 1.8, -6.0, -0.9, 4.0])
_TRUE_BIAS = -3.3


def silo_name(silo: int) -> str:
    """The firm behind silo number `silo`: its tenant name in the privacy ledger."""
    return f"firm-{silo}"


def silo_names(n_silos: int) -> list[str]:
    """Tenant names of `n_silos` silos, in silo order."""
    return [silo_name(i) for i in range(n_silos)]


def _silo_profile(silo: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Feature means and spreads of one firm: a shifted copy of the base profile."""
    base_mean = np.array([0.0, 0.55, 1.0, 0.5, 1.0, 0.6])
    base_std = np.array([0.6, 0.25, 0.6, 0.2, 1.0, 0.2])
    shift = rng.normal(0.0, 1.0, size=base_mean.size) * np.array([0.9, 0.15, 0.6, 0.15, 0.8, 0.15])
    scale = rng.uniform(0.6, 1.4, size=base_std.size)
    return base_mean + shift, base_std * scale


def _draw(silo: int, n_rows: int, seed: int, stream: int) -> pd.DataFrame:
    profile_rng = np.random.default_rng([seed, silo, 0])
    mean, std = _silo_profile(silo, profile_rng)
    rng = np.random.default_rng([seed, silo, stream])
    x = rng.normal(mean, std, size=(n_rows, mean.size))
    x[:, 1] = np.clip(x[:, 1], 0.0, 1.5)      # an offer is between nothing and 150 %
    x[:, 3] = np.clip(x[:, 3], 0.0, 1.0)
    x[:, 4] = np.maximum(np.round(x[:, 4]), 0.0)  # a count
    x[:, 5] = np.clip(x[:, 5], 0.0, 1.0)
    logits = x @ _TRUE_WEIGHTS + _TRUE_BIAS
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
    frame = pd.DataFrame(x, columns=list(FEATURES))
    frame[LABEL] = y
    frame["firm"] = silo_name(silo)
    return frame


def _check(n_silos: int, n_rows: int, seed: int) -> None:
    for field, value, low, high in (("n_silos", n_silos, 1, 64), ("n_rows", n_rows, 1, None),
                                    ("seed", seed, 0, None)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError.one(field, "must be an integer")
        if value < low or (high is not None and value > high):
            rule = f"must be between {low} and {high}" if high else f"must be >= {low}"
            raise InputError.one(field, rule)


def make_silos(n_silos: int = 5, seed: int = 0, n_rows: int = 400) -> list[pd.DataFrame]:
    """Training data of each firm: one DataFrame per silo, non-IID across silos.

    Parameters
    ----------
    n_silos : int
        Number of firms (1..64).
    seed : int
        Master seed; the same (n_silos, seed, n_rows) always gives the same frames.
    n_rows : int
        Rows per firm.

    Returns
    -------
    list of pandas.DataFrame
        Columns FEATURES, then LABEL (0/1), then "firm" ("firm-<index>").
    """
    _check(n_silos, n_rows, seed)
    return [_draw(s, n_rows, seed, stream=1) for s in range(n_silos)]


def make_test_set(n_silos: int = 5, seed: int = 0, n_rows: int = 200) -> pd.DataFrame:
    """Held-out rows from every firm's distribution (a fresh random stream), pooled.

    Used to measure the global model; the rows never appear in `make_silos`' output.
    """
    _check(n_silos, n_rows, seed)
    return pd.concat([_draw(s, n_rows, seed, stream=2) for s in range(n_silos)],
                     ignore_index=True)


def to_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 [n, len(FEATURES)], y float32 [n]) from a silo frame."""
    missing = [c for c in (*FEATURES, LABEL) if c not in frame.columns]
    if missing:
        raise InputError.one(f"frame.{missing[0]}", "column is required")
    x = frame[list(FEATURES)].to_numpy(dtype=np.float32)
    y = frame[LABEL].to_numpy(dtype=np.float32)
    return x, y
