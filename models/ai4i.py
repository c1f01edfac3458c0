"""Synthetic predictive-maintenance data generated with the published AI4I 2020 rules, from a seed.

Source: S. Matzka, "Explainable Artificial Intelligence for Predictive Maintenance Applications", 2020 Third
International Conference on Artificial Intelligence for Industries (AI4I), pp. 69-74; dataset description of the
UCI "AI4I 2020 Predictive Maintenance Dataset" (id 601, CC BY 4.0). The real dataset is not shipped offline, so
this module regenerates data of the same kind with the rules the description publishes:

- product type L / M / H with probability 50 / 30 / 20 % (coded 0 / 1 / 2 here);
- air temperature: a random walk normalised to a standard deviation of 2 K around 300 K;
- process temperature: a random walk normalised to a standard deviation of 1 K, plus the air temperature + 10 K;
- torque: normal around 40 Nm with sigma 10 Nm, no negative values;
- rotational speed: the description derives it "from a power of 2860 W, overlaid with a normally distributed
  noise" without the formula; we draw it so that its mean, standard deviation and correlation with torque match
  the published dataset's (about 1539 rpm, 179 rpm, -0.88);
- tool wear: each process adds 2 / 3 / 5 min for L / M / H; the tool is replaced at a random wear between 200
  and 240 min, and fails then (TWF) in 51 of the 120 published replacements (p = 0.425);
- HDF: air-to-process temperature difference below 8.6 K and rotational speed below 1380 rpm;
- PWF: power = torque x angular speed (rad/s) below 3500 W or above 9000 W;
- OSF: tool wear x torque above 11,000 / 12,000 / 13,000 min Nm for L / M / H;
- RNF: each process fails with probability 0.1 % regardless of its parameters;
- machine failure = any of the five.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURES", "FAILURE_MODES", "Ai4iData", "generate_ai4i"]

#: Column order of the feature matrix (and of the ``features`` input of ``maintenance-clf``).
FEATURES = (
    "product_type_code",  # 0 = L, 1 = M, 2 = H
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
)
FAILURE_MODES = ("TWF", "HDF", "PWF", "OSF", "RNF")

_TYPE_PROBABILITIES = (0.5, 0.3, 0.2)
_WEAR_ADDED_MIN = np.array([2.0, 3.0, 5.0])
_OSF_LIMIT_MIN_NM = np.array([11_000.0, 12_000.0, 13_000.0])
_TWF_FAIL_PROBABILITY = 51 / 120
_RNF_PROBABILITY = 0.001
_SPEED_MEAN_RPM, _SPEED_STD_RPM, _SPEED_TORQUE_CORR = 1538.8, 179.3, -0.875


@dataclass(frozen=True)
class Ai4iData:
    """Generated rows: ``features`` float32 [n, 6] in FEATURES order, ``failure`` int64 [n], modes int64 [n]."""

    features: np.ndarray
    failure: np.ndarray
    modes: dict[str, np.ndarray]


def _normalised_walk(rng: np.random.Generator, n: int, std: float) -> np.ndarray:
    walk = np.cumsum(rng.standard_normal(n))
    return (walk - walk.mean()) / walk.std() * std


def generate_ai4i(n: int = 10_000, seed: int = 0) -> Ai4iData:
    """``n`` consecutive machine processes generated with the AI4I 2020 rules from ``seed``."""
    rng = np.random.default_rng(seed)
    product = rng.choice(3, size=n, p=_TYPE_PROBABILITIES)
    air_k = 300.0 + _normalised_walk(rng, n, 2.0)
    process_k = air_k + 10.0 + _normalised_walk(rng, n, 1.0)
    torque_nm = np.abs(rng.normal(40.0, 10.0, size=n))
    standard_torque = (torque_nm - 40.0) / 10.0
    speed_noise = rng.standard_normal(n)
    speed_rpm = _SPEED_MEAN_RPM + _SPEED_STD_RPM * (
        _SPEED_TORQUE_CORR * standard_torque + np.sqrt(1.0 - _SPEED_TORQUE_CORR**2) * speed_noise
    )

    # Tool wear is a process over consecutive rows: each row wears the tool, which is replaced at a random limit.
    wear_min = np.empty(n)
    twf = np.zeros(n, dtype=np.int64)
    worn = 0.0
    limit = rng.uniform(200.0, 240.0)
    replacement_fails = rng.random(n) < _TWF_FAIL_PROBABILITY
    for i in range(n):
        worn += _WEAR_ADDED_MIN[product[i]]
        wear_min[i] = worn
        if worn >= limit:
            twf[i] = int(replacement_fails[i])
            worn = 0.0
            limit = rng.uniform(200.0, 240.0)

    # The published dataset records temperatures and torque to 0.1 and speed to 1 rpm. The rules are applied to
    # exactly the float32 values returned, so a model sees the numbers its labels were computed from.
    features = np.column_stack(
        [product, np.round(air_k, 1), np.round(process_k, 1), np.round(speed_rpm), np.round(torque_nm, 1), wear_min]
    ).astype(np.float32)
    air_k, process_k, speed_rpm, torque_nm = features[:, 1:5].astype(np.float64).T
    power_w = torque_nm * speed_rpm * 2.0 * np.pi / 60.0
    modes = {
        "TWF": twf,
        "HDF": ((process_k - air_k < 8.6) & (speed_rpm < 1380.0)).astype(np.int64),
        "PWF": ((power_w < 3500.0) | (power_w > 9000.0)).astype(np.int64),
        "OSF": (wear_min * torque_nm > _OSF_LIMIT_MIN_NM[product]).astype(np.int64),
        "RNF": (rng.random(n) < _RNF_PROBABILITY).astype(np.int64),
    }
    failure = np.zeros(n, dtype=np.int64)
    for mode in FAILURE_MODES:
        failure |= modes[mode]
    return Ai4iData(features=features, failure=failure, modes=modes)
