"""The tier queue (SimPy, c slots, FIFO) against Erlang C and M/D/c."""

from __future__ import annotations

import pytest

from maas.tiers.queueing import erlang_c_wait_s, mdc_wait_s
from tests.support.simpy_models import simulate_mean_wait_s

SLOTS, RATE, SERVICE_S, N = 4, 2.0, 1.0, 200_000


def test_erlang_c_closed_form_matches_m_m_1() -> None:
    # M/M/1: Wq = rho / (mu - lambda)
    assert erlang_c_wait_s(0.7, 1.0, 1) == pytest.approx(0.7 / 0.3, rel=1e-12)


def test_mdc_method_matches_pollaczek_khinchine_for_one_slot() -> None:
    # M/D/1: Wq = rho * D / (2 (1 - rho))
    assert mdc_wait_s(0.8, 1.0, 1) == pytest.approx(0.8 / (2 * 0.2), rel=1e-6)
    assert mdc_wait_s(0.5, 2.0, 2) < erlang_c_wait_s(0.5, 2.0, 2)


def test_queue_with_exponential_service_matches_erlang_c() -> None:
    sim = simulate_mean_wait_s(SLOTS, RATE, lambda rng: rng.exponential(SERVICE_S), N, seed=11)
    assert sim == pytest.approx(erlang_c_wait_s(RATE, SERVICE_S, SLOTS), rel=0.05)


def test_queue_with_deterministic_service_matches_mdc() -> None:
    sim = simulate_mean_wait_s(SLOTS, RATE, lambda rng: SERVICE_S, N, seed=12)
    assert sim == pytest.approx(mdc_wait_s(RATE, SERVICE_S, SLOTS), rel=0.05)
