"""Tier queue formulas: what a tier with ``c`` compute slots (FIFO) waits, checked in the tests against a SimPy
model of the tier (``tests/support/simpy_models.py``).

- Erlang C (M/M/c): ``Wq = C(c, a) / (c*mu - lambda)`` with ``a = lambda/mu`` (Erlang 1917; any queueing text).
- M/D/c, exact up to truncation, by the embedded-chain method of Crommelin (1932) as given in Tijms, *A First
  Course in Stochastic Models* (Wiley 2003), M/D/c section: with deterministic service ``D`` every customer in
  service at time t has left by t + D, so the number in system obeys ``N(t+D) = max(N(t) - c, 0) + A`` with
  ``A ~ Poisson(lambda*D)`` for any t. Its stationary law is the time-stationary law of N, so
  ``Lq = E[(N - c)+]`` and ``Wq = Lq / lambda`` (Little).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["erlang_c_wait_s", "mdc_wait_s"]


def erlang_c_wait_s(arrival_rate: float, service_s: float, slots: int) -> float:
    """Mean wait in queue of M/M/c with mean service ``service_s``."""
    a = arrival_rate * service_s
    rho = a / slots
    if rho >= 1:
        return math.inf
    terms = [a**k / math.factorial(k) for k in range(slots)]
    top = a**slots / math.factorial(slots) / (1 - rho)
    p_wait = top / (sum(terms) + top)
    return p_wait / (slots / service_s - arrival_rate)


def mdc_wait_s(arrival_rate: float, service_s: float, slots: int, tol: float = 1e-12) -> float:
    """Mean wait in queue of M/D/c (embedded chain at multiples of D, truncated where the tail is < ``tol``)."""
    a = arrival_rate * service_s
    if a >= slots:
        return math.inf
    n_max = int(slots + 40 + 60 * a / (slots - a) + 10 * math.sqrt(a + 1))
    k = np.arange(n_max + 1)
    log_pk = k * math.log(a) - a - np.array([math.lgamma(x + 1) for x in k]) if a > 0 else None
    pk = np.exp(log_pk) if log_pk is not None else (k == 0).astype(float)
    p = np.zeros((n_max + 1, n_max + 1))
    for n in range(n_max + 1):
        base = max(n - slots, 0)
        width = n_max - base
        p[n, base:n_max] = pk[:width]
        p[n, n_max] = max(1.0 - pk[:width].sum(), 0.0)
    m = p.T - np.eye(n_max + 1)
    m[-1, :] = 1.0
    rhs = np.zeros(n_max + 1)
    rhs[-1] = 1.0
    pi = np.linalg.solve(m, rhs)
    if pi[-10:].sum() > 1e-6 or tol <= 0:
        raise ArithmeticError("M/D/c truncation too small for this load")
    lq = float(np.sum(np.maximum(k - slots, 0) * pi))
    return lq / arrival_rate
