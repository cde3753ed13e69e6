import math
import warnings

import numpy as np
import pytest
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis import rdp as opacus_rdp

from dalrn_core.errors import InputError
from dalrn_core.fl.privacy import DEFAULT_ORDERS, epsilon, epsilon_from_rdp, rdp, sgm_rdp


def _opacus_epsilon(history, delta):
    accountant = RDPAccountant()
    for noise, q, steps in history:
        accountant.history.append((noise, q, steps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha"
        return accountant.get_epsilon(delta=delta)


@pytest.mark.parametrize("noise", [0.8, 1.1, 2.0])
@pytest.mark.parametrize("q", [0.01, 0.1, 0.5])
def test_epsilon_agrees_with_opacus_rdp_accountant(noise, q):
    for steps in (1, 100, 1000):
        ours = epsilon(noise, q, steps, 1e-5)
        theirs = _opacus_epsilon([(noise, q, steps)], 1e-5)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (noise, q, steps)


@pytest.mark.parametrize("delta", [1e-7, 1e-3, 0.1])
def test_epsilon_agrees_with_opacus_at_other_deltas(delta):
    assert epsilon(1.1, 0.02, 500, delta) == pytest.approx(
        _opacus_epsilon([(1.1, 0.02, 500)], delta), rel=1e-9)


def test_opacus_step_by_step_accounting_matches():
    """RDPAccountant.step is what Opacus' optimizer calls each step; we match it."""
    accountant = RDPAccountant()
    for _ in range(37):
        accountant.step(noise_multiplier=1.1, sample_rate=0.05)
    assert epsilon(1.1, 0.05, 37, 1e-5) == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-9)


def test_composition_across_rounds_of_different_mechanisms():
    rounds = [(1.1, 0.1, 10), (2.0, 0.05, 40), (0.9, 0.02, 25), (1.1, 0.1, 10)]
    composed = sum(rdp(noise, q, steps) for noise, q, steps in rounds)
    assert epsilon_from_rdp(composed, 1e-5) == pytest.approx(
        _opacus_epsilon(rounds, 1e-5), rel=1e-9)
    # Identical rounds compose to the same as one run of all their steps.
    assert epsilon_from_rdp(rdp(1.1, 0.1, 10) * 7, 1e-5) == pytest.approx(
        epsilon(1.1, 0.1, 70, 1e-5), rel=1e-12)
    # Composition is not addition of epsilons: RDP composes much more tightly.
    assert epsilon(1.1, 0.1, 70, 1e-5) < 7 * epsilon(1.1, 0.1, 10, 1e-5)


def test_fractional_orders_meet_integer_orders():
    """The fractional-order series (Section 3.3) and the integer binomial sum (3.2) are two
    independent formulas; near an integer order they must agree."""
    for q, sigma in ((0.01, 1.1), (0.2, 0.8), (0.5, 2.0)):
        for a in (2, 5, 11):
            exact = sgm_rdp(q, sigma, float(a))
            assert sgm_rdp(q, sigma, a + 1e-7) == pytest.approx(exact, rel=1e-5)


def test_full_batch_is_the_gaussian_mechanism():
    # q = 1: RDP of the Gaussian mechanism with sensitivity 1 is alpha / (2 sigma^2).
    for a in (1.5, 2.0, 32.0):
        assert sgm_rdp(1.0, 1.3, a) == pytest.approx(a / (2 * 1.3**2))
    # ...and the q -> 1 limit of the subsampled formula reaches it.
    assert sgm_rdp(1 - 1e-9, 1.3, 3.0) == pytest.approx(3.0 / (2 * 1.3**2), rel=1e-6)


def test_subsampled_gaussian_matches_opacus_per_order():
    theirs = opacus_rdp.compute_rdp(q=0.03, noise_multiplier=1.1, steps=1,
                                    orders=list(DEFAULT_ORDERS))
    np.testing.assert_allclose(rdp(1.1, 0.03, 1), theirs, rtol=1e-7, atol=1e-12)


def test_epsilon_grows_with_steps_and_shrinks_with_noise():
    eps = [epsilon(1.1, 0.05, s, 1e-5) for s in (10, 100, 1000)]
    assert eps == sorted(eps) and eps[0] > 0
    assert epsilon(2.0, 0.05, 100, 1e-5) < epsilon(1.1, 0.05, 100, 1e-5)
    assert epsilon(1.1, 0.05, 0, 1e-5) == 0.0
    assert math.isinf(epsilon(0.0, 0.05, 10, 1e-5))


@pytest.mark.parametrize("args, field", [
    ((-1.0, 0.1, 10, 1e-5), "noise_multiplier"),
    ((1.1, 1.5, 10, 1e-5), "sample_rate"),
    ((1.1, 0.1, -3, 1e-5), "steps"),
    ((1.1, 0.1, 2.5, 1e-5), "steps"),
    ((1.1, 0.1, 10, 0.0), "delta"),
    ((1.1, 0.1, 10, 1.0), "delta"),
])
def test_bad_accounting_input(args, field):
    with pytest.raises(InputError) as err:
        epsilon(*args)
    assert err.value.problems[0].field == field
