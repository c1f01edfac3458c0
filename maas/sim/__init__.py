"""Virtual-time simulation of routing policies on the tier models (one code path with the gateway, two clocks).

``load_scenario(path)`` -> ``prepare(spec, path, ...)`` -> ``run(prepared)`` gives, per policy and for the offline
oracle, the figures ``maas sim`` prints (``METRIC_KEYS``).
"""

from maas.sim.metrics import METRIC_KEYS
from maas.sim.runner import Prepared, prepare, run
from maas.sim.scenario import ScenarioSpec, load_scenario

__all__ = ["load_scenario", "ScenarioSpec", "prepare", "Prepared", "run", "METRIC_KEYS"]
