"""Rényi differential privacy (RDP) accounting for DP-SGD.

DP-SGD with Poisson sampling is a composition of Sampled Gaussian Mechanisms (SGM): each
step samples every example with probability q and adds Gaussian noise of standard
deviation sigma times the clipping norm. We compute the SGM's RDP at a grid of orders,
compose over steps (RDP adds up), and convert to (epsilon, delta)-DP.

Sources
-------
- Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
  Mechanism", arXiv:1908.10530, Sections 3.2 (integer orders) and 3.3 (fractional orders).
- Balle et al. 2020, "Hypothesis Testing Interpretations and Renyi Differential Privacy",
  AISTATS, Theorem 21 (the RDP to (epsilon, delta) conversion).
- Mironov 2017, "Rényi Differential Privacy", Proposition 1 (composition adds RDP).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, log_ndtr, logsumexp

from dalrn_core.errors import InputError

#: Orders searched by default: 1.1 to 10.9 in steps of 0.1, then 12 to 63. The same grid as
#: TF-Privacy and Opacus, so our epsilon is comparable with theirs.
DEFAULT_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)])

# The fractional-order series stops at the first alternating term below e^-30.
#: An RDP curve: one value per order, as `rdp` returns it (a JSON list read back works too).
RdpCurve = Sequence[float] | npt.NDArray[np.float64]

_SERIES_TOLERANCE = -30.0
_SERIES_CHUNK = 4096
_SERIES_MAX_TERMS = 10_000_000


def _log_a_integer(q: float, sigma: float, alpha: int) -> float:
    """log A_alpha for integer alpha: binomial expansion of E_{z~N(0,s^2)}[(1-q+q e^{..})^a].

    A_alpha = sum_k C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2 - k) / (2 sigma^2)).
    """
    terms = [
        math.lgamma(alpha + 1) - math.lgamma(k + 1) - math.lgamma(alpha - k + 1)
        + (alpha - k) * math.log1p(-q) + k * math.log(q) + (k * k - k) / (2 * sigma**2)
        for k in range(alpha + 1)
    ]
    return float(logsumexp(terms))


def _log_a_fractional(q: float, sigma: float, alpha: float) -> float:
    """log A_alpha for fractional alpha (Mironov et al. 2019, Section 3.3).

    Split the integral at z0, where q e^{(2z-1)/(2 s^2)} = 1 - q, and expand each side with
    the binomial series that converges there:
      A = sum_i C(a,i) (1-q)^(a-i) q^i     e^{(i^2-i)/(2s^2)}   P(N(i, s^2) <= z0)
        + sum_i C(a,i) (1-q)^i     q^(a-i) e^{(t^2-t)/(2s^2)}   P(N(t, s^2) >  z0), t = a - i.
    Past i = a the binomial coefficients alternate in sign and the terms shrink, so the
    error after stopping is below the first term left out; we stop once a term is below
    e^-30 (A >= 1, so that is a relative error under 1e-13).
    """
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    log_q, log_1q = math.log(q), math.log1p(-q)
    positive: list[np.ndarray] = []
    negative: list[np.ndarray] = []
    for start in range(0, _SERIES_MAX_TERMS, _SERIES_CHUNK):
        # Vectorised over a chunk of indices: the series needs thousands of terms.
        i = np.arange(start, start + _SERIES_CHUNK, dtype=np.float64)
        t = alpha - i
        # gammaln gives log|Gamma| for negative non-integer arguments, hence |C(a, i)|.
        log_c = gammaln(alpha + 1) - gammaln(i + 1) - gammaln(t + 1)
        # C(a, i) = prod_{j<i} (a - j) / i!: one negative factor for every j > a.
        negatives = np.maximum(0, i - 1 - math.floor(alpha))
        first = log_c + t * log_1q + i * log_q + (i * i - i) / (2 * sigma**2) \
            + log_ndtr((z0 - i) / sigma)
        second = log_c + i * log_1q + t * log_q + (t * t - t) / (2 * sigma**2) \
            + log_ndtr((t - z0) / sigma)
        terms = np.logaddexp(first, second)
        small = np.nonzero((i > alpha) & (terms < _SERIES_TOLERANCE))[0]
        stop = int(small[0]) + 1 if small.size else terms.size
        odd = (negatives[:stop] % 2) == 1
        positive.append(terms[:stop][~odd])
        negative.append(terms[:stop][odd])
        if small.size:
            break
    log_pos = float(logsumexp(np.concatenate(positive)))
    neg = np.concatenate(negative)
    if neg.size == 0:
        return log_pos
    # A is a probability-weighted mean of positive values, so the positive part dominates.
    return log_pos + math.log1p(-math.exp(float(logsumexp(neg)) - log_pos))


def sgm_rdp(q: float, noise_multiplier: float, order: float) -> float:
    """RDP at `order` of one step of the Sampled Gaussian Mechanism.

    Parameters
    ----------
    q : float
        Poisson sampling rate, 0 <= q <= 1.
    noise_multiplier : float
        Noise standard deviation divided by the clipping norm (sigma), >= 0.
    order : float
        Rényi order alpha > 1.

    Returns
    -------
    float
        epsilon_alpha = log(A_alpha) / (alpha - 1); +inf when sigma is 0 and q > 0.
    """
    if q == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    if q == 1.0:
        # Plain Gaussian mechanism with sensitivity 1 (Mironov 2017, Proposition 7).
        return order / (2 * noise_multiplier**2)
    if float(order).is_integer():
        log_a = _log_a_integer(q, noise_multiplier, int(order))
    else:
        log_a = _log_a_fractional(q, noise_multiplier, float(order))
    return log_a / (order - 1)


def rdp(noise_multiplier: float, sample_rate: float, steps: int,
        orders: Sequence[float] = DEFAULT_ORDERS) -> npt.NDArray[np.float64]:
    """RDP of `steps` compositions of the SGM, one value per order (RDP adds up).

    Parameters
    ----------
    noise_multiplier, sample_rate : float
        sigma and q of every step.
    steps : int
        Number of steps composed, >= 0.
    orders : sequence of float, each > 1

    Returns
    -------
    numpy.ndarray
        steps * epsilon_alpha for each alpha in `orders`.
    """
    _validate(noise_multiplier, sample_rate, steps)
    if steps == 0:
        return np.zeros(len(orders))
    curve = _step_curve(float(sample_rate), float(noise_multiplier), tuple(orders))
    return steps * np.asarray(curve)


@functools.lru_cache(maxsize=256)
def _step_curve(q: float, sigma: float, orders: tuple[float, ...]) -> tuple[float, ...]:
    # Cached: a ledger asks for the same (q, sigma) every round, and a curve costs ~0.1 s.
    return tuple(sgm_rdp(q, sigma, a) for a in orders)


def epsilon_from_rdp(rdp_values: RdpCurve, delta: float,
                     orders: Sequence[float] = DEFAULT_ORDERS) -> float:
    """Smallest epsilon over the orders such that the RDP curve implies (epsilon, delta)-DP.

    Balle et al. 2020, Theorem 21: eps = rdp_a + log((a-1)/a) - (log(delta) + log(a))/(a-1),
    minimised over alpha, floored at 0.

    Parameters
    ----------
    rdp_values : sequence of float, one per order
    delta : float, 0 < delta < 1
    orders : sequence of float, each > 1

    Returns
    -------
    float
        epsilon (+inf when every order's RDP is infinite).
    """
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise InputError.one("delta", "must be a number with 0 < delta < 1")
    a = np.asarray(orders, dtype=np.float64)
    r = np.asarray(rdp_values, dtype=np.float64)
    if a.shape != r.shape:
        raise InputError.one("rdp_values", f"must have one value per order ({a.size})")
    if not np.any(r):
        # No mechanism has run: nothing was revealed (the bound below would not be tight).
        return 0.0
    eps = r - (math.log(delta) + np.log(a)) / (a - 1) + np.log((a - 1) / a)
    eps = np.where(np.isnan(eps), np.inf, eps)
    return float(max(0.0, eps.min()))


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """Epsilon of DP-SGD after `steps` Poisson-sampled Gaussian steps, at `delta`.

    Parameters
    ----------
    noise_multiplier : float
        sigma, the noise standard deviation over the clipping norm, > 0 (0 gives +inf).
    sample_rate : float
        q, the probability that each example is in a batch, 0 < q <= 1.
    steps : int
        Number of optimizer steps, summed over every round so far.
    delta : float
        Target delta, 0 < delta < 1.

    Returns
    -------
    float
        The (epsilon, delta)-DP guarantee's epsilon.
    """
    return epsilon_from_rdp(rdp(noise_multiplier, sample_rate, steps), delta)


def _validate(noise_multiplier: float, sample_rate: float, steps: int) -> None:
    if not isinstance(noise_multiplier, (int, float)) or not math.isfinite(noise_multiplier) \
            or noise_multiplier < 0:
        raise InputError.one("noise_multiplier", "must be a finite number >= 0")
    if not isinstance(sample_rate, (int, float)) or not 0 <= sample_rate <= 1:
        raise InputError.one("sample_rate", "must be a number with 0 <= sample_rate <= 1")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise InputError.one("steps", "must be an integer >= 0")
