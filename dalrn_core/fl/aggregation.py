"""Aggregation rules for federated learning, robust and not, over flat update vectors.

Every function takes a list of 1-D numpy arrays (one model update, or one flattened set of
model parameters, per client) and returns one 1-D float64 array. All rules here are
translation equivariant (shifting every input by the same vector shifts the output by it),
so aggregating full parameter vectors that start from one global model is the same as
aggregating the updates and adding them to that model.

Sources
-------
- FedAvg: McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
  Decentralized Data", AISTATS.
- Coordinate-wise median and trimmed mean: Yin et al. 2018, "Byzantine-Robust Distributed
  Learning: Towards Optimal Statistical Rates", ICML.
- Krum and Multi-Krum: Blanchard et al. 2017, "Machine Learning with Adversaries:
  Byzantine Tolerant Gradient Descent", NeurIPS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from dalrn_core.errors import InputError, Problem

#: What every rule returns: one flat float64 vector.
Vector = npt.NDArray[np.float64]


def _stack(updates: Sequence[npt.NDArray[Any]]) -> Vector:
    """Validate `updates` and stack them into an (n, d) float64 matrix."""
    if not isinstance(updates, (list, tuple)) or len(updates) == 0:
        raise InputError.one("updates", "must be a non-empty list of 1-D numpy arrays")
    problems: list[Problem] = []
    length = None
    for i, update in enumerate(updates):
        if not isinstance(update, np.ndarray) or update.ndim != 1:
            problems.append(Problem(f"updates[{i}]", "must be a 1-D numpy array"))
            continue
        if update.size == 0:
            problems.append(Problem(f"updates[{i}]", "must not be empty"))
            continue
        if not np.issubdtype(update.dtype, np.number) or np.iscomplexobj(update):
            problems.append(Problem(f"updates[{i}]", "must hold real numbers"))
            continue
        if length is None:
            length = update.size
        elif update.size != length:
            problems.append(Problem(
                f"updates[{i}]", f"length {update.size} differs from updates[0] length {length}"))
            continue
        if not np.all(np.isfinite(update)):
            problems.append(Problem(f"updates[{i}]", "must hold only finite values"))
    if problems:
        raise InputError(problems, subject="aggregation input")
    return np.stack([u.astype(np.float64, copy=False) for u in updates])


def _check_int(field: str, value: object, low: int, high: int | None, rule: str) -> int:
    """An int within [low, high] (high None: unbounded), else InputError naming `rule`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError.one(field, "must be an integer", subject="aggregation input")
    if value < low or (high is not None and value > high):
        raise InputError.one(field, rule, subject="aggregation input")
    return int(value)


def fedavg(updates: Sequence[npt.NDArray[Any]], weights: Sequence[float] | None = None) -> Vector:
    """Federated averaging: the weighted mean of the updates (McMahan et al. 2017).

    1. Stack the n updates.
    2. Normalise the weights (usually each client's number of examples) to sum to one.
    3. Return the weighted sum; equal weights when `weights` is None.

    Parameters
    ----------
    updates : list of 1-D numpy arrays, all of one length
    weights : list of n non-negative finite floats with a positive sum, optional

    Returns
    -------
    numpy.ndarray
        The weighted mean, float64.
    """
    stacked = _stack(updates)
    if weights is None:
        mean: Vector = stacked.mean(axis=0)
        return mean
    w = np.asarray(weights, dtype=np.float64) if _is_numeric_list(weights) else None
    if w is None or w.ndim != 1:
        raise InputError.one("weights", "must be a list of numbers", subject="aggregation input")
    if w.size != stacked.shape[0]:
        raise InputError.one(
            "weights", f"must have one entry per update ({stacked.shape[0]}), got {w.size}",
            subject="aggregation input")
    bad = [i for i, x in enumerate(w) if not math.isfinite(x) or x < 0]
    if bad:
        raise InputError.one(f"weights[{bad[0]}]", "must be a finite number >= 0",
                             subject="aggregation input")
    total = w.sum()
    if total <= 0:
        raise InputError.one("weights", "must have a positive sum", subject="aggregation input")
    weighted: Vector = (w / total) @ stacked
    return weighted


def _is_numeric_list(values: object) -> bool:
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        return False
    return array.dtype.kind in "biuf"


def median(updates: Sequence[npt.NDArray[Any]]) -> Vector:
    """Coordinate-wise median (Yin et al. 2018, Algorithm "median-GD").

    For each coordinate independently, the median of the n clients' values (the mean of
    the two middle values when n is even). Tolerates up to ceil(n/2) - 1 arbitrary inputs.

    Parameters
    ----------
    updates : list of 1-D numpy arrays, all of one length

    Returns
    -------
    numpy.ndarray
        The coordinate-wise median, float64.
    """
    medians: Vector = np.median(_stack(updates), axis=0)
    return medians


def trimmed_mean(updates: Sequence[npt.NDArray[Any]], beta: float) -> Vector:
    """Coordinate-wise beta-trimmed mean (Yin et al. 2018, Definition 2).

    1. For each coordinate, sort the n values.
    2. Drop the k = floor(beta * n) smallest and the k largest.
    3. Average the n - 2k values that remain.

    Parameters
    ----------
    updates : list of 1-D numpy arrays, all of one length
    beta : float
        Fraction trimmed on each side, 0 <= beta < 0.5.

    Returns
    -------
    numpy.ndarray
        The coordinate-wise trimmed mean, float64.
    """
    stacked = _stack(updates)
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating, np.integer)) \
            or not math.isfinite(beta) or not 0.0 <= beta < 0.5:
        raise InputError.one("beta", "must be a number with 0 <= beta < 0.5",
                             subject="aggregation input")
    n = stacked.shape[0]
    k = math.floor(beta * n)
    # beta < 0.5 already keeps n - 2k >= 1, since 2k <= 2*beta*n < n.
    ordered = np.sort(stacked, axis=0)
    trimmed: Vector = ordered[k:n - k].mean(axis=0)
    return trimmed


def krum_scores(updates: Sequence[npt.NDArray[Any]], f: int) -> Vector:
    """Krum score of every update (Blanchard et al. 2017, Section 4).

    The score of update i is the sum of squared Euclidean distances from i to its
    n - f - 2 nearest other updates. Requires n > 2f + 2.

    Parameters
    ----------
    updates : list of 1-D numpy arrays, all of one length
    f : int
        Number of Byzantine clients tolerated, f >= 0.

    Returns
    -------
    numpy.ndarray
        One score per update, float64 (lower is more central).
    """
    stacked = _stack(updates)
    n = stacked.shape[0]
    f = _check_int("f", f, 0, None, "must be >= 0")
    if n <= 2 * f + 2:
        raise InputError.one(
            "updates", f"Krum needs n > 2f + 2 updates; got n={n} with f={f}",
            subject="aggregation input")
    # Pairwise squared distances computed directly (not via the Gram matrix) so that
    # identical updates have distance exactly 0, which keeps ties deterministic.
    diffs = stacked[:, None, :] - stacked[None, :, :]
    sq = np.einsum("ijk,ijk->ij", diffs, diffs)
    neighbours = n - f - 2
    scores = np.empty(n)
    for i in range(n):
        others = np.delete(sq[i], i)
        scores[i] = np.sort(others)[:neighbours].sum()
    return scores


def krum(updates: Sequence[npt.NDArray[Any]], f: int) -> Vector:
    """Krum (Blanchard et al. 2017): the single update with the lowest Krum score.

    Ties go to the lowest index. Requires n > 2f + 2.

    Parameters
    ----------
    updates : list of 1-D numpy arrays, all of one length
    f : int
        Number of Byzantine clients tolerated, f >= 0.

    Returns
    -------
    numpy.ndarray
        A float64 copy of the selected update.
    """
    scores = krum_scores(updates, f)
    return np.asarray(updates[int(np.argmin(scores))], dtype=np.float64).copy()


def multi_krum(updates: Sequence[npt.NDArray[Any]], f: int, m: int) -> Vector:
    """Multi-Krum (Blanchard et al. 2017, Section 5): mean of the m lowest-scored updates.

    1. Score every update with Krum's score (computed once, over all n updates).
    2. Keep the m updates with the lowest scores (ties to the lowest index).
    3. Return their plain mean. m = 1 is Krum; m = n is the plain mean.

    Parameters
    ----------
    updates : list of 1-D numpy arrays, all of one length
    f : int
        Number of Byzantine clients tolerated, f >= 0, with n > 2f + 2.
    m : int
        Number of updates averaged, 1 <= m <= n.

    Returns
    -------
    numpy.ndarray
        The mean of the selected updates, float64.
    """
    scores = krum_scores(updates, f)
    n = scores.size
    m = _check_int("m", m, 1, n, f"must satisfy 1 <= m <= n ({n})")
    chosen = np.argsort(scores, kind="stable")[:m]
    mean: Vector = _stack(updates)[chosen].mean(axis=0)
    return mean
