"""The two baselines of ``make bench``, serving the same model as the platform with the same V2 JSON body.

(a) plain: uvicorn + FastAPI + onnxruntime in one process, what a user would pick for one model on one box.
(b) bare: a Ray Serve two-hop composition (FastAPI ingress -> handle -> model replica), no platform logic.
Both parse the body with json and numpy, run onnxruntime and answer V2 JSON: the minimum an inference server does.
"""


import json
import sys
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request, Response

from maas.models import load_catalog
from maas.models.runner import ModelRunner


def _runner(models_dir: str, model: str) -> ModelRunner:
    catalog = load_catalog(Path(models_dir))
    runner = ModelRunner(catalog.get(model), Path(models_dir), variant="fp32", intra_op_threads=1)
    runner.warmup()
    return runner


def _decode(body: bytes) -> dict[str, np.ndarray]:
    doc = json.loads(body)
    return {i["name"]: np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in doc["inputs"]}


def _encode(model: str, outputs: dict[str, np.ndarray]) -> bytes:
    items = [
        {"name": k, "datatype": "FP32" if v.dtype == np.float32 else "INT64", "shape": list(v.shape), "data": v.reshape(-1).tolist()}
        for k, v in outputs.items()
    ]
    return json.dumps({"model_name": model, "outputs": items}).encode()


def plain_app(models_dir: str, model: str) -> FastAPI:
    runner = _runner(models_dir, model)
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        outputs = runner.infer(_decode(await request.body()))
        return Response(_encode(name, outputs), media_type="application/json")

    return app


def bare_serve_app(models_dir: str, model: str, copies: int = 1):
    """The bare two-hop Ray Serve app (imported only where Ray is running): ``copies`` one-replica deployments of
    the model behind one ingress that takes them in turn. ``make bench`` gives it as many as the platform has tiers,
    the platform's own shape (one single-replica deployment per tier, chosen by the gateway), so the difference
    measured is the platform's work, not the number of processes on the host."""
    from ray import serve

    @serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
    class BareModel:
        def __init__(self) -> None:
            self._runner = _runner(models_dir, model)

        async def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return self._runner.infer(inputs)

    api = FastAPI()

    @serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
    @serve.ingress(api)
    class BareIngress:
        def __init__(self, *model_handles) -> None:
            self._models = model_handles
            self._next = 0

        @api.post("/v2/models/{name}/infer")
        async def infer(self, name: str, request: Request) -> Response:
            handle = self._models[self._next % len(self._models)]
            self._next += 1
            outputs = await handle.infer.remote(_decode(await request.body()))
            return Response(_encode(name, outputs), media_type="application/json")

    return BareIngress.bind(*(BareModel.options(name=f"BareModel{k}").bind() for k in range(copies)))


if __name__ == "__main__":  # plain server: python -m bench.baselines MODELS_DIR MODEL PORT
    import uvicorn

    models_dir, model, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uvicorn.run(plain_app(models_dir, model), host="127.0.0.1", port=port, log_level="warning", access_log=False)
