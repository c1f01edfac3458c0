"""``make fuzz``: schemathesis over every operation of /openapi.json (V2, admin, usage; positive and negative cases,
as admin, tenant and nobody) plus hypothesis V2 bodies (tests/fuzz), against a running platform: ``--url`` with
``--key``/``--admin-key`` (or MAAS_API_KEY / MAAS_ADMIN_KEY), else a local one started here (bench/local_platform).
Pass: 0 responses >= 500 other than the API's documented 501/503 refusals, 0 hangs (``--timeout-s`` per request),
and the platform healthy afterwards (ready, one valid inference 200). Writes results/fuzz.json; exit 1 on a finding.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


def run(url: str, key: str, admin_key: str, cases: int, timeout_s: float, seed: int) -> dict:
    import httpx
    import schemathesis

    from tests.fuzz.runner import Tally, fuzz_openapi, fuzz_v2, httpx_send

    tally = Tally(hang_s=timeout_s)
    auths = {"admin": {"Authorization": f"Bearer {admin_key}"}, "tenant": {"Authorization": f"Bearer {key}"},
             "nobody": {}}
    t0 = time.monotonic()
    with httpx.Client(base_url=url) as client:
        send = httpx_send(client, timeout_s)
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = sum(1 for _ in schema.get_all_operations())
        per_op = max(5, cases // (4 * operations))  # about half the cases (positive + negative per operation)
        fuzz_openapi(schema, send, tally, per_operation=per_op, auths=auths, seed_value=seed)
        openapi_cases = tally.total
        print(f"openapi: {openapi_cases} cases over {operations} operations in {time.monotonic() - t0:.0f} s",
              file=sys.stderr, flush=True)
        models = tuple(m["name"] for m in client.get("/v2/models", headers=auths["admin"]).json()["models"])
        fuzz_v2(send, tally, cases=max(cases - openapi_cases, 0), auth=auths["tenant"], models=models,
                seed_value=seed + 1)
        ready = client.get("/v2/health/ready", timeout=timeout_s).status_code
        infer = client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=auths["tenant"],
                            timeout=timeout_s).status_code
    doc = tally.to_dict()
    doc.update(openapi_cases=openapi_cases, v2_cases=tally.total - openapi_cases, wall_s=round(time.monotonic() - t0),
               healthy_after={"ready": ready, "infer": infer}, timeout_s=timeout_s, seed=seed)
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=None, help="a running platform (default: start a local one)")
    ap.add_argument("--key", default=os.environ.get("MAAS_API_KEY"))
    ap.add_argument("--admin-key", default=os.environ.get("MAAS_ADMIN_KEY"))
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--timeout-s", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "fuzz.json")
    args = ap.parse_args()
    if args.url and not (args.key and args.admin_key):
        ap.error("--url needs --key and --admin-key (or MAAS_API_KEY / MAAS_ADMIN_KEY)")
    if args.url:
        ctx = nullcontext(None)
    else:
        from bench.local_platform import local_platform

        ctx = local_platform()
    with ctx as plat:
        url = args.url or plat.url
        key = args.key or plat.bench_key
        admin = args.admin_key or plat.admin_key
        doc = run(url, key, admin, args.cases, args.timeout_s, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    healthy = doc["healthy_after"] == {"ready": 200, "infer": 200}
    print(f"fuzz: {doc['cases']} cases ({doc['openapi_cases']} schemathesis, {doc['v2_cases']} V2 bodies) in "
          f"{doc['wall_s']} s: {doc['server_errors']} server errors, {doc['hangs']} hangs, "
          f"{doc['designed_5xx']} documented 501/503, slowest {doc['slowest_s']} s; healthy after: {healthy}")
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in doc["statuses"].items()))
    for f in doc["findings"][:10]:
        print(f"FINDING {f['status']} {f['group']}: {f['request'][:300]} -> {f['response'][:200]}")
    print(f"results: {args.out}")
    return 0 if doc["server_errors"] == 0 and doc["hangs"] == 0 and healthy else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
