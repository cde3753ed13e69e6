"""Bad input: one clear InputError naming the matrix, the position and the rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.negotiation.negotiate import negotiate, negotiate_payload
from dalrn_core.negotiation.validation import validate_bimatrix


def _problems(excinfo):
    return [(p.field, p.rule) for p in excinfo.value.problems]


@pytest.mark.parametrize(
    ("row", "col", "field", "words"),
    [
        ([], [[1]], "row_payoffs", "at least one row"),
        ([[]], [[]], "row_payoffs[0]", "at least one column"),
        ([[1, 2], [3]], [[1, 2], [3, 4]], "row_payoffs[1]", "equal length"),
        ([[1, math.nan]], [[1, 2]], "row_payoffs[0][1]", "finite"),
        ([[1, 2]], [[1, math.inf]], "col_payoffs[0][1]", "finite"),
        ([[1, -math.inf]], [[1, 2]], "row_payoffs[0][1]", "finite"),
        ([[1, "2"]], [[1, 2]], "row_payoffs[0][1]", "must be a number"),
        ([[1, None]], [[1, 2]], "row_payoffs[0][1]", "must be a number"),
        ([[True, 2]], [[1, 2]], "row_payoffs[0][0]", "must be a number"),
        ([[[1], 2]], [[1, 2]], "row_payoffs[0][0]", "must be a number"),
        ([1, 2], [[1, 2]], "row_payoffs[0]", "two-dimensional"),
        ("abc", [[1]], "row_payoffs", "two-dimensional"),
        ([[1, 2]], [[1], [2]], "col_payoffs", "shapes must match"),
        ([[10**400]], [[1]], "row_payoffs[0][0]", "finite"),
    ],
)
def test_each_rule_named(row, col, field, words):
    with pytest.raises(InputError) as excinfo:
        validate_bimatrix(row, col)
    assert any(f == field and words in r for f, r in _problems(excinfo)), _problems(excinfo)
    assert field in str(excinfo.value)


def test_size_cap_configurable():
    big = [[0] * 26] * 2
    with pytest.raises(InputError) as excinfo:
        validate_bimatrix(big, big)
    assert "at most 25" in str(excinfo.value)
    a, _ = validate_bimatrix(big, big, max_strategies=26)
    assert a.shape == (2, 26)
    with pytest.raises(InputError):
        negotiate([[1, 2, 3]], [[1, 2, 3]], max_strategies=2)


def test_all_problems_reported_together():
    with pytest.raises(InputError) as excinfo:
        validate_bimatrix([[1, math.nan], [None, 2]], [[1, 2], [3, "x"]])
    fields = {f for f, _ in _problems(excinfo)}
    assert fields == {"row_payoffs[0][1]", "row_payoffs[1][0]", "col_payoffs[1][1]"}


def test_numpy_input_accepted():
    a, b = validate_bimatrix(np.array([[1, 2]], dtype=np.int64), np.array([[3.5, 4]]))
    assert a.dtype == float and b.tolist() == [[3.5, 4.0]]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rule": "max"}, "rule"),
        ({"rule": None}, "rule"),
        ({"batna": [1]}, "batna"),
        ({"batna": [1, 2, 3]}, "batna"),
        ({"batna": "1,2"}, "batna"),
        ({"batna": [1, math.nan]}, "batna[1]"),
        ({"batna": ["a", 1]}, "batna[0]"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"time_limit_s": -1}, "time_limit_s"),
        ({"time_limit_s": math.inf}, "time_limit_s"),
    ],
)
def test_options_validated(kwargs, field):
    with pytest.raises(InputError) as excinfo:
        negotiate([[1, 2]], [[2, 1]], **kwargs)
    assert field in [f for f, _ in _problems(excinfo)]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "(file)"),
        ({"col_payoffs": [[1]]}, "row_payoffs"),
        ({"row_payoffs": [[1]]}, "col_payoffs"),
        ({"row_payoffs": [[1]], "col_payoffs": [[1]], "rules": "nsw"}, "rules"),
        ({"row_payoffs": [[1]], "col_payoffs": [[1]], "batna": [0]}, "batna"),
        ({"row_payoffs": [[1]], "col_payoffs": [[1]], "rule": "fair"}, "rule"),
    ],
)
def test_payload_errors(payload, field):
    with pytest.raises(InputError) as excinfo:
        negotiate_payload(payload)
    assert field in [f for f, _ in _problems(excinfo)]


def test_payload_defaults_and_nulls():
    result = negotiate_payload(
        {
            "row_payoffs": [[1, 0], [0, 1]],
            "col_payoffs": [[1, 0], [0, 1]],
            "rule": None,
            "batna": None,
            "time_limit_s": None,
        }
    )
    assert result.rule == "nsw" and result.batna == (0.0, 0.0)
