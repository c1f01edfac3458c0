"""Sim-to-real: replay a scenario live against the platform (through ``maas.loadtest``, plain HTTP) and simulate
the same trace in virtual time (``maas.sim``), then compare. The only package that imports both sides.

Import the submodules: ``maas.simlive.live`` (the check) and ``maas.simlive.replay`` (the trace as the load-test
harness replays it, and the live side).
"""
