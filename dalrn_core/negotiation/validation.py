"""Validation of negotiation input: payoff matrices, rule, BATNA, time limit, and the
n-party joint outcomes with their BATNAs.

Every rejection is an `InputError` whose problems name the matrix and position
(``row_payoffs[1][2]``) and the rule broken, so the CLI prints one clear message and exits
non-zero instead of showing a traceback. Checks run in a fixed order (shape before values,
values before cross-matrix rules) and collect every problem of the same stage at once.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from dalrn_core.errors import InputError, Problem
from dalrn_core.negotiation.rational import FloatArray

RULES = ("nsw", "egalitarian", "kalai_smorodinsky", "utilitarian")
DEFAULT_MAX_STRATEGIES = 25
_SUBJECT = "negotiation input"
_JOINT_SUBJECT = "bargaining input"
MAX_JOINT_OUTCOMES = 5000


def _is_number(value: Any) -> bool:
    # bool is an int subclass in Python but a payoff of `true` is a mistake, not a 1.
    return isinstance(value, (Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _finite_number(entry: Any, where: str) -> tuple[float, Problem | None]:
    """`entry` as a float, or the problem with it (not a number, or not finite)."""
    if not _is_number(entry):
        return math.nan, Problem(where, f"must be a number, got {type(entry).__name__} {entry!r}"[:160])
    try:
        number = float(entry)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        return number, Problem(where, f"must be finite, got {entry!r}"[:160])
    return number, None


def _matrix(name: str, value: Any, max_strategies: int) -> tuple[FloatArray | None, list[Problem]]:
    """One matrix: a non-empty, rectangular list of rows of finite real numbers."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return None, [Problem(name, "must be a two-dimensional list of numbers (a list of rows)")]
    if len(value) == 0:
        return None, [Problem(name, "must have at least one row (one strategy per player)")]
    problems: list[Problem] = []
    width = None
    for i, row in enumerate(value):
        if not isinstance(row, (list, tuple)):
            problems.append(
                Problem(
                    f"{name}[{i}]", "must be a list of numbers (the matrix must be two-dimensional)"
                )
            )
            continue
        if len(row) == 0:
            problems.append(
                Problem(f"{name}[{i}]", "must have at least one column (one strategy per player)")
            )
            continue
        if width is None:
            width = len(row)
        elif len(row) != width:
            problems.append(
                Problem(
                    f"{name}[{i}]",
                    f"has {len(row)} entries but row 0 has {width}: rows must have equal length",
                )
            )
    if problems:
        return None, problems
    assert width is not None  # value has a row and every row was checked non-empty
    rows, cols = len(value), width
    if rows > max_strategies or cols > max_strategies:
        return None, [
            Problem(
                name,
                f"is {rows}x{cols}; at most {max_strategies} strategies per player are allowed",
            )
        ]
    out = np.empty((rows, cols), dtype=float)
    for i, row in enumerate(value):
        for j, entry in enumerate(row):
            number, problem = _finite_number(entry, f"{name}[{i}][{j}]")
            if problem is not None:
                problems.append(problem)
                continue
            out[i, j] = number
    return (None if problems else out), problems


def validate_bimatrix(
    row_payoffs: Any, col_payoffs: Any, *, max_strategies: int = DEFAULT_MAX_STRATEGIES
) -> tuple[FloatArray, FloatArray]:
    """Check a bimatrix game and return its two payoff matrices as float arrays.

    Parameters
    ----------
    row_payoffs, col_payoffs : list of lists (or 2-D array) of numbers
        ``row_payoffs[i][j]`` and ``col_payoffs[i][j]`` are the payoffs of the row and the
        column player when row plays ``i`` and column plays ``j``.
    max_strategies : int
        Size cap per player; equilibrium enumeration is exponential in the size.

    Returns
    -------
    tuple of numpy.ndarray
        ``(A, B)``, both of shape ``(m, n)`` with ``m, n >= 1``.

    Raises
    ------
    InputError
        Naming the matrix, the position and the rule: two-dimensional, at least one strategy
        each, rows of equal length, numeric, finite, equal shapes, the size cap.
    """
    if (
        isinstance(max_strategies, bool)
        or not isinstance(max_strategies, int)
        or max_strategies < 1
    ):
        raise InputError.one("max_strategies", "must be a positive integer", subject=_SUBJECT)
    a, problems_a = _matrix("row_payoffs", row_payoffs, max_strategies)
    b, problems_b = _matrix("col_payoffs", col_payoffs, max_strategies)
    if problems_a or problems_b:
        raise InputError(problems_a + problems_b, subject=_SUBJECT)
    assert a is not None and b is not None
    if a.shape != b.shape:
        raise InputError.one(
            "col_payoffs",
            f"has shape {b.shape[0]}x{b.shape[1]} but row_payoffs is {a.shape[0]}x{a.shape[1]}: shapes must match",
            subject=_SUBJECT,
        )
    return a, b


def validate_rule(rule: Any) -> str:
    """The selection rule name, one of `RULES`."""
    if not isinstance(rule, str) or rule not in RULES:
        raise InputError.one(
            "rule", f"must be one of {', '.join(RULES)}; got {rule!r}"[:200], subject=_SUBJECT
        )
    return rule


def validate_batna(batna: Any, a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """The two parties' BATNAs; ``None`` gives each player's minimum payoff."""
    if batna is None:
        return float(a.min()), float(b.min())
    if isinstance(batna, np.ndarray):
        batna = batna.tolist()
    if not isinstance(batna, (list, tuple)) or len(batna) != 2:
        got = f"{len(batna)} values" if isinstance(batna, (list, tuple)) else type(batna).__name__
        raise InputError.one(
            "batna", f"must be a list of two numbers [row, column]; got {got}", subject=_SUBJECT
        )
    problems = []
    values = []
    for k, entry in enumerate(batna):
        number, problem = _finite_number(entry, f"batna[{k}]")
        if problem is not None:
            problems.append(problem)
        values.append(number)
    if problems:
        raise InputError(problems, subject=_SUBJECT)
    return values[0], values[1]


def validate_time_limit(time_limit_s: Any) -> float | None:
    """A positive finite number of seconds, or ``None`` for no limit (in-process run)."""
    if time_limit_s is None:
        return None
    if (
        not _is_number(time_limit_s)
        or not math.isfinite(float(time_limit_s))
        or float(time_limit_s) <= 0
    ):
        raise InputError.one(
            "time_limit_s", "must be a positive finite number of seconds or null", subject=_SUBJECT
        )
    return float(time_limit_s)


def _joint_number(value: Any, where: str, problems: list[Problem]) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        problems.append(Problem(where, "must be a finite number"))
        return 0.0
    return float(value)


def validate_joint(outcomes: Any, batna: Any) -> tuple[tuple[str, ...], FloatArray, FloatArray]:
    """Parties (BATNA order), utilities ``v[k, i]`` of outcome k for party i, and BATNAs ``d``.

    Every outcome must name exactly the BATNA's parties; at most `MAX_JOINT_OUTCOMES`.
    """
    if not isinstance(batna, dict) or not batna:
        raise InputError.one(
            "batna", "must be a non-empty mapping party -> number", subject=_JOINT_SUBJECT
        )
    parties = tuple(batna)
    problems: list[Problem] = []
    if any(not isinstance(p, str) or not p for p in parties):
        problems.append(Problem("batna", "party names must be non-empty strings"))
    d = np.array([_joint_number(batna[p], f"batna.{p}", problems) for p in parties])
    if not isinstance(outcomes, (list, tuple)) or not outcomes:
        problems.append(
            Problem("outcomes", "must be a non-empty list of {party: utility} mappings")
        )
        raise InputError(problems, subject=_JOINT_SUBJECT)
    if len(outcomes) > MAX_JOINT_OUTCOMES:
        raise InputError.one(
            "outcomes", f"at most {MAX_JOINT_OUTCOMES} outcomes; got {len(outcomes)}", subject=_JOINT_SUBJECT
        )
    v = np.zeros((len(outcomes), len(parties)))
    for k, out in enumerate(outcomes):
        if not isinstance(out, dict):
            problems.append(Problem(f"outcomes[{k}]", "must be a mapping party -> utility"))
            continue
        if set(out) != set(parties):
            missing, extra = (
                sorted(set(parties) - set(out)),
                sorted(set(out) - set(parties), key=str),
            )
            problems.append(
                Problem(
                    f"outcomes[{k}]",
                    f"parties must match batna (missing {missing}, unknown {extra})",
                )
            )
            continue
        for i, p in enumerate(parties):
            v[k, i] = _joint_number(out[p], f"outcomes[{k}].{p}", problems)
    if problems:
        raise InputError(problems, subject=_JOINT_SUBJECT)
    return parties, v, d
