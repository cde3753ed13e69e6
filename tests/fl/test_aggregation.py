import itertools
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from dalrn_core.errors import InputError
from dalrn_core.fl.aggregation import fedavg, krum, krum_scores, median, multi_krum, trimmed_mean


def _updates(seed=0, n=7, d=5):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=d) for _ in range(n)]


def test_fedavg_matches_numpy_average():
    ups = _updates()
    w = [1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_allclose(fedavg(ups, w), np.average(np.stack(ups), axis=0, weights=w))
    np.testing.assert_allclose(fedavg(ups), np.stack(ups).mean(axis=0))
    # Only relative weights matter.
    np.testing.assert_allclose(fedavg(ups, [10 * x for x in w]), fedavg(ups, w))


def test_median_matches_statistics_median_per_coordinate():
    for n in (4, 5):
        ups = _updates(n=n)
        expected = [statistics.median(u[j] for u in ups) for j in range(5)]
        np.testing.assert_allclose(median(ups), expected)


def test_trimmed_mean_matches_scipy_trim_mean():
    ups = _updates(n=10)
    for beta in (0.0, 0.1, 0.25, 0.49):
        np.testing.assert_allclose(trimmed_mean(ups, beta),
                                   stats.trim_mean(np.stack(ups), beta, axis=0))


def test_trimmed_mean_ignores_one_huge_outlier():
    ups = [np.array([1.0]), np.array([2.0]), np.array([3.0]), np.array([4.0]), np.array([1e9])]
    assert trimmed_mean(ups, 0.2)[0] == pytest.approx(3.0)  # (2 + 3 + 4) / 3


def test_krum_hand_example():
    ups = [np.array([v]) for v in (0.0, 1.0, 2.0, 3.0, 100.0)]
    # n - f - 2 = 2 nearest: scores 0:1+4, 1:1+1, 2:1+1, 3:1+4, 100: 97^2+98^2.
    np.testing.assert_allclose(krum_scores(ups, 1), [5, 2, 2, 5, 97**2 + 98**2])
    np.testing.assert_array_equal(krum(ups, 1), [1.0])  # tie goes to the lowest index
    np.testing.assert_allclose(multi_krum(ups, 1, 2), [1.5])
    np.testing.assert_allclose(multi_krum(ups, 1, 4), [1.5])  # mean of 0, 1, 2, 3


def test_krum_scores_against_brute_force_definition():
    ups = _updates(seed=3, n=8, d=4)
    f = 2
    for i, u in enumerate(ups):
        dists = sorted(float(np.sum((u - v) ** 2)) for j, v in enumerate(ups) if j != i)
        assert krum_scores(ups, f)[i] == pytest.approx(sum(dists[: len(ups) - f - 2]))


def test_multi_krum_extremes():
    ups = _updates(n=6)
    np.testing.assert_allclose(multi_krum(ups, 1, 1), krum(ups, 1))
    np.testing.assert_allclose(multi_krum(ups, 1, 6), np.stack(ups).mean(axis=0))


def test_krum_never_picks_a_far_outlier_and_returns_an_input():
    ups = _updates(n=6)
    ups.append(np.full(5, 1e3))
    chosen = krum(ups, 2)
    assert any(np.array_equal(chosen, u) for u in ups[:-1])


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 9).flatmap(
    lambda n: st.lists(arrays(np.float64, 3, elements=finite), min_size=n, max_size=n)),
    arrays(np.float64, 3, elements=finite))
def test_rules_are_translation_equivariant_and_bounded(ups, shift):
    stacked = np.stack(ups)
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    moved = [u + shift for u in ups]
    for rule in (lambda u: fedavg(u), median, lambda u: trimmed_mean(u, 0.2),
                 lambda u: krum(u, 1), lambda u: multi_krum(u, 1, 2)):
        out = rule(ups)
        tol = 1e-6 * (1 + np.abs(stacked).max() + np.abs(shift).max())
        assert np.all(out >= lo - tol) and np.all(out <= hi + tol)
        np.testing.assert_allclose(rule(moved), out + shift, atol=tol)


def test_median_and_trimmed_mean_do_not_depend_on_order():
    ups = _updates(n=5)
    for perm in itertools.islice(itertools.permutations(range(5)), 0, 120, 17):
        shuffled = [ups[i] for i in perm]
        np.testing.assert_allclose(median(shuffled), median(ups))
        np.testing.assert_allclose(trimmed_mean(shuffled, 0.2), trimmed_mean(ups, 0.2))


@pytest.mark.parametrize("call, field, words", [
    (lambda: fedavg([]), "updates", "non-empty"),
    (lambda: median([np.zeros(3), np.zeros(4)]), "updates[1]", "length 4"),
    (lambda: median([np.zeros((2, 2))]), "updates[0]", "1-D"),
    (lambda: median([np.array([1.0, np.nan])]), "updates[0]", "finite"),
    (lambda: krum([np.zeros(2)] * 4, 1), "updates", "n > 2f + 2"),
    (lambda: krum([np.zeros(2)] * 5, -1), "f", ">= 0"),
    (lambda: multi_krum([np.zeros(2)] * 5, 1, 0), "m", "1 <= m <= n"),
    (lambda: multi_krum([np.zeros(2)] * 5, 1, 6), "m", "1 <= m <= n"),
    (lambda: trimmed_mean([np.zeros(2)] * 5, 0.5), "beta", "0 <= beta < 0.5"),
    (lambda: trimmed_mean([np.zeros(2)] * 5, -0.1), "beta", "0 <= beta < 0.5"),
    (lambda: fedavg([np.zeros(2)] * 3, [1, 2]), "weights", "one entry per update"),
    (lambda: fedavg([np.zeros(2)] * 2, [1, -2]), "weights[1]", ">= 0"),
    (lambda: fedavg([np.zeros(2)] * 2, [0, 0]), "weights", "positive sum"),
])
def test_bad_input_names_field_and_rule(call, field, words):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.problems[0].field == field
    assert words in err.value.problems[0].rule
