"""Faults under an open loop of 50 req/s on a local platform (bench/local_platform.py), counted by bench/chaos.py:
kill -9 of the model replica serving most requests, kill -9 of the gateway replica, and a tier outage through
``maas tiers fail``. Prints the table (fault, sent, lost, refused, recovery) and writes results/chaos.json.
The platform sends every tier over Ray (``colocated_tiers`` off, as on a multi-node cluster): beside the embedded
default's gateway (one hop less) a model replica is not on the request path at all.
Lost: neither a 200 nor a fast (< 1 s) 503/429. Recovery: from the fault to the last request after it that was not
a 200 within 1 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate-rps", type=float, default=50.0)
    ap.add_argument("--duration-s", type=float, default=25.0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "chaos.json")
    args = ap.parse_args()
    import httpx  # noqa: E402
    from ray import serve  # noqa: E402
    from typer.testing import CliRunner  # noqa: E402

    from bench.chaos import BODY, kill_replica, run_under_fault  # noqa: E402
    from bench.local_platform import local_platform
    from maas.cli.main import app as cli  # noqa: E402

    rows = []
    with local_platform(colocated_tiers="off") as plat:
        headers = plat.bearer(plat.dev_key)
        tiers = Counter(httpx.post(f"{plat.url}/v2/models/digits-mlp/infer", json=BODY, headers=headers,
                                   timeout=10).json()["parameters"]["tier"] for _ in range(20))
        tier = tiers.most_common(1)[0][0]
        app_name = next(n for n in serve.status().applications
                        if n.startswith("digits-mlp") and n.endswith(f"@{tier}"))
        kw = dict(rate_rps=args.rate_rps, duration_s=args.duration_s, fault_at_s=5.0)
        rows.append(run_under_fault(f"kill -9 model replica ({app_name})", plat.url, headers,
                                    lambda: kill_replica(app_name), **kw).row())
        print(rows[-1], file=sys.stderr, flush=True)
        rows.append(run_under_fault("kill -9 gateway replica", plat.url, headers,
                                    lambda: kill_replica("gateway"), **kw).row())
        print(rows[-1], file=sys.stderr, flush=True)
        env = {"MAAS_DATA_DIR": str(plat.settings.data_dir)}
        runner = CliRunner()

        def outage() -> str:
            return runner.invoke(cli, ["tiers", "fail", tier, "--for", "60s"], env=env).output.strip()

        rows.append(run_under_fault(f"tier outage: maas tiers fail {tier} --for 60s", plat.url, headers, outage,
                                    **kw).row())
        runner.invoke(cli, ["tiers", "restore", tier], env=env)
        print(rows[-1], file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rate_rps": args.rate_rps, "duration_s": args.duration_s, "rows": rows},
                                   indent=1))
    print("| fault | requests sent | lost | refused (fast 503/429) | retried on another tier | recovery s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fault']} | {r['sent']} | {r['lost']} | {r['refused']} | {r['retried']} | {r['recovery_s']} |")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
