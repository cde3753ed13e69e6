import math

import pytest

from dalrn_core.errors import InputError
from dalrn_core.soan.queue import mm1


def test_hand_computed_values():
    # lambda = 3, mu = 4: rho = 3/4, L = 3, Lq = 9/4, W = 1, Wq = 3/4
    q = mm1(3, 4)
    assert q.stable
    assert q.utilisation == pytest.approx(0.75)
    assert q.mean_in_system == pytest.approx(3.0)
    assert q.mean_in_queue == pytest.approx(2.25)
    assert q.mean_time_in_system == pytest.approx(1.0)
    assert q.mean_time_in_queue == pytest.approx(0.75)
    # lambda = 0.5, mu = 2: rho = 1/4, L = 1/3, Lq = 1/12, W = 2/3, Wq = 1/6
    q = mm1(0.5, 2.0)
    assert (q.utilisation, q.mean_in_system, q.mean_in_queue) == pytest.approx(
        (0.25, 1 / 3, 1 / 12)
    )
    assert (q.mean_time_in_system, q.mean_time_in_queue) == pytest.approx((2 / 3, 1 / 6))


@pytest.mark.parametrize("lam, mu", [(0.1, 1), (0.8, 1), (5, 7.5), (0.0, 2)])
def test_little_law_and_identities(lam, mu):
    q = mm1(lam, mu)
    assert q.mean_in_system == pytest.approx(lam * q.mean_time_in_system)
    assert q.mean_in_queue == pytest.approx(lam * q.mean_time_in_queue)
    assert q.mean_time_in_system == pytest.approx(q.mean_time_in_queue + 1 / mu)


@pytest.mark.parametrize("lam, mu", [(1, 1), (2, 1), (1e9, 1)])
def test_unstable_is_flagged_with_infinite_waits(lam, mu):
    q = mm1(lam, mu)
    assert not q.stable
    assert q.utilisation == pytest.approx(lam / mu)
    for value in (q.mean_in_system, q.mean_in_queue, q.mean_time_in_system, q.mean_time_in_queue):
        assert value == math.inf


def test_frozen():
    with pytest.raises(AttributeError):
        mm1(1, 2).stable = False


@pytest.mark.parametrize(
    "lam, mu, field",
    [
        (-1, 1, "arrival_rate"),
        (float("nan"), 1, "arrival_rate"),
        ("x", 1, "arrival_rate"),
        (1, 0, "service_rate"),
        (1, -2, "service_rate"),
        (1, float("nan"), "service_rate"),
        (1, float("inf"), "service_rate"),
    ],
)
def test_bad_input_names_the_field(lam, mu, field):
    with pytest.raises(InputError) as err:
        mm1(lam, mu)
    assert err.value.problems[0].field == field
    assert field in str(err.value)
