"""Open-loop, coordinated-omission-free load testing of V2 inference servers (the platform or any other).

Public API: ``LoadTestSpec`` + ``run_loadtest`` (one run), ``ArrivalSpec``/``build_schedule`` (arrivals),
``RequestMix``/``MixEntry``/``default_mix``/``load_mix`` (what is sent), ``parse_threshold``, ``compare_results``,
``find_peak``, ``run_selftest``, ``write_report``, ``StubServer`` (a local V2 server for tests). Nothing here
imports the server side of maas.
"""

from __future__ import annotations

from maas.loadtest.compare import compare_results
from maas.loadtest.harness import LoadTestOutcome, LoadTestSpec, run_loadtest
from maas.loadtest.mix import MixEntry, RequestMix, default_mix, load_mix, single_model_mix
from maas.loadtest.peak import find_peak
from maas.loadtest.report import write_report
from maas.loadtest.schedule import ArrivalSpec, Schedule, build_schedule
from maas.loadtest.selftest import run_selftest
from maas.loadtest.stubserver import StubServer, StubSettings
from maas.loadtest.verdict import parse_threshold

__all__ = [
    "LoadTestSpec",
    "LoadTestOutcome",
    "run_loadtest",
    "ArrivalSpec",
    "Schedule",
    "build_schedule",
    "MixEntry",
    "RequestMix",
    "default_mix",
    "load_mix",
    "single_model_mix",
    "parse_threshold",
    "compare_results",
    "find_peak",
    "run_selftest",
    "write_report",
    "StubServer",
    "StubSettings",
]
