"""Closed forms of the M/M/1 queue, the model of one mediator agent.

Poisson arrivals at rate lambda, exponential service at rate mu, one server, FIFO
(Kleinrock 1975, "Queueing Systems" vol. 1, section 3.2). With rho = lambda / mu < 1:

    L  = rho / (1 - rho)          mean number in system
    Lq = rho^2 / (1 - rho)        mean number waiting
    W  = 1 / (mu - lambda)        mean time in system  (Little: L = lambda W)
    Wq = rho / (mu - lambda)      mean time waiting

At rho >= 1 the queue grows without bound: the result is flagged unstable and every mean
is infinite, so callers never divide by zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dalrn_core.errors import InputError


@dataclass(frozen=True)
class MM1:
    """Steady-state measures of one M/M/1 queue (infinite when not `stable`)."""

    arrival_rate: float
    service_rate: float
    utilisation: float
    mean_in_system: float
    mean_in_queue: float
    mean_time_in_system: float
    mean_time_in_queue: float
    stable: bool


def _rate(name: str, value: float, *, positive: bool) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError.one(name, "must be a number") from None
    if math.isnan(value) or math.isinf(value):
        raise InputError.one(name, "must be a finite number")
    if value < 0 or (positive and value == 0):
        raise InputError.one(name, "must be > 0" if positive else "must be >= 0")
    return value


def mm1(arrival_rate: float, service_rate: float) -> MM1:
    """Closed-form steady state of an M/M/1 queue.

    Parameters
    ----------
    arrival_rate : lambda >= 0, jobs per unit time.
    service_rate : mu > 0, jobs per unit time.

    Returns
    -------
    MM1 with utilisation rho = lambda / mu and the four means above; when lambda >= mu,
    ``stable`` is False and the means are ``math.inf``.

    Raises
    ------
    InputError naming ``arrival_rate`` or ``service_rate`` when negative, zero service,
    NaN or infinite.
    """
    lam = _rate("arrival_rate", arrival_rate, positive=False)
    mu = _rate("service_rate", service_rate, positive=True)
    rho = lam / mu
    if lam >= mu:
        inf = math.inf
        return MM1(lam, mu, rho, inf, inf, inf, inf, stable=False)
    return MM1(
        arrival_rate=lam,
        service_rate=mu,
        utilisation=rho,
        mean_in_system=rho / (1.0 - rho),
        mean_in_queue=rho * rho / (1.0 - rho),
        mean_time_in_system=1.0 / (mu - lam),
        mean_time_in_queue=rho / (mu - lam),
        stable=True,
    )
