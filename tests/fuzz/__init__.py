"""The fuzzer (``make fuzz``: bench/bench_fuzz.py against a running platform; a 500-case smoke in-process:
tests/unit/test_fuzz_smoke.py with MAAS_FUZZ_SMOKE=1)."""
