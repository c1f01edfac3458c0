"""The fuzzer's engine: schemathesis cases for every operation of ``/openapi.json`` and hypothesis V2 bodies
(``tests.fuzz.v2_bodies``), sent through one ``Send`` (an in-process TestClient or an HTTP client to a running
platform), every answer tallied. A status >= 500 is a finding, and so is a request that takes longer than the
per-request timeout (a hang). Cases are generated only (no shrinking): a finding is recorded with its request.

Lifecycle: ``tally = Tally()``; ``fuzz_openapi(schema, send, tally, ...)``; ``fuzz_v2(send, tally, ...)``;
``tally.to_dict()``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.fuzz.v2_bodies import FuzzRequest, v2_requests

__all__ = ["Tally", "Send", "fuzz_openapi", "fuzz_v2", "httpx_send", "is_finding", "HANG", "DESIGNED_5XX"]

HANG = -1  # the status a Send returns when the request did not finish within its timeout
UNSENDABLE = 0  # the HTTP client refused to send the drawn request (counted, never a finding)
# method, path, headers, query, body kwargs (json= / content= / data= / files=) -> (status, response body)
Send = Callable[[str, str, Mapping[str, str], Mapping[str, Any] | None, Mapping[str, Any]], tuple[int, bytes]]
# 5xx answers the API documents (maas.errors): 501 Unsupported (BF16), 503 NotReady / NoFeasibleTier / overloaded.
DESIGNED_5XX = (501, 503)


def is_finding(status: int, body: bytes) -> bool:
    """A hang, a 500, any other 5xx, or a 501/503 that is not the API's own ``{"error": ...}`` refusal."""
    if status == HANG or status == 500:
        return True
    if status < 500:  # includes UNSENDABLE
        return False
    if status not in DESIGNED_5XX:
        return True
    try:
        doc = json.loads(body)
    except ValueError:
        return True
    return not (isinstance(doc, dict) and isinstance(doc.get("error"), str)
                and not doc["error"].startswith("internal error"))


@dataclass
class Tally:
    """Cases sent per group, statuses, and the findings (5xx and hangs) with what was sent."""

    cases: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    findings: list[dict[str, Any]] = field(default_factory=list)
    slowest_s: float = 0.0
    hang_s: float = 10.0  # an answer slower than this is a hang, even when the transport could not time it out
    finding_count: int = 0

    def add(self, group: str, status: int, body: bytes, elapsed_s: float, what: Callable[[], str]) -> None:
        if elapsed_s > self.hang_s:
            status = HANG
        self.cases[group] += 1
        self.statuses[str(status)] += 1
        self.slowest_s = max(self.slowest_s, elapsed_s)
        if is_finding(status, body):
            self.finding_count += 1
            if len(self.findings) < 200:
                self.findings.append({"group": group, "status": status, "elapsed_s": round(elapsed_s, 3),
                                      "request": what()[:600], "response": body[:300].decode("utf-8", "replace")})

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    @property
    def server_errors(self) -> int:
        """Findings other than hangs: 500s and undocumented 5xx."""
        return self.finding_count - self.hangs

    @property
    def hangs(self) -> int:
        return self.statuses.get(str(HANG), 0)

    def to_dict(self) -> dict[str, Any]:
        designed = sum(v for k, v in self.statuses.items() if int(k) in DESIGNED_5XX)
        return {"cases": self.total, "server_errors": self.server_errors, "hangs": self.hangs,
                "designed_5xx": designed,
                "slowest_s": round(self.slowest_s, 3), "by_group": dict(self.cases),
                "statuses": dict(sorted(self.statuses.items())), "findings": self.findings}


def _settings(n: int) -> settings:
    return settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck), print_blob=False)


def _timed(send: Send, method: str, path: str, headers: Mapping[str, str], query: Mapping[str, Any] | None,
           body: Mapping[str, Any]) -> tuple[int, bytes, float]:
    t0 = time.monotonic()
    status, content = send(method, path, headers, query, body)
    return status, content, time.monotonic() - t0


def fuzz_openapi(schema: Any, send: Send, tally: Tally, *, per_operation: int, auths: Mapping[str, dict[str, str]],
                 seed_value: int = 1, skip: Callable[[str, str], bool] | None = None) -> None:
    """``per_operation`` positive and as many negative (schema-violating) cases per operation of the schemathesis
    ``schema``, each sent as one of ``auths`` (name -> headers; the case's own headers are kept under them)."""
    from schemathesis import GenerationMode

    names = sorted(auths)
    for result in schema.get_all_operations():
        op = result.ok()
        if skip is not None and skip(op.method.upper(), op.path):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run_operation(op, mode, send, tally, per_operation, auths, names, seed_value)


def _run_operation(op: Any, mode: Any, send: Send, tally: Tally, n: int, auths: Mapping[str, dict[str, str]],
                   names: list[str], seed_value: int) -> None:
    group = f"openapi {op.method.upper()} {op.path}"

    @seed(seed_value)
    @_settings(n)
    @given(case=op.as_strategy(generation_mode=mode), who=st.sampled_from(names))
    def one(case: Any, who: str) -> None:
        kw = case.as_transport_kwargs(base_url="http://fuzz.invalid")
        headers = {**(kw.get("headers") or {}), **auths[who]}
        path = kw["url"].removeprefix("http://fuzz.invalid")
        body = {k: kw[k] for k in ("json", "data", "files") if kw.get(k) is not None}
        status, content, elapsed = _timed(send, kw["method"], path, headers, kw.get("params"), body)
        tally.add(group, status, content, elapsed, lambda: f"{who} {case.as_curl_command()}")

    try:
        one()
    except Unsatisfiable:  # e.g. no negative case exists for an operation without parameters or body
        pass


def fuzz_v2(send: Send, tally: Tally, *, cases: int, auth: dict[str, str], models: tuple[str, ...],
            seed_value: int = 2) -> None:
    """``cases`` hypothesis-drawn V2 infer requests (``tests.fuzz.v2_bodies``), sent with ``auth`` headers."""

    @seed(seed_value)
    @_settings(cases)
    @given(req=v2_requests(models))
    def one(req: FuzzRequest) -> None:
        status, content, elapsed = _timed(send, "POST", req.path, {**req.headers, **auth}, None,
                                          {"content": req.body})
        tally.add(f"v2 {req.kind.split('+')[0]}", status, content, elapsed, req.describe)

    one()


def httpx_send(client: Any, timeout_s: float | None) -> Send:
    """A ``Send`` over an ``httpx.Client`` (a running platform; a timeout is a hang) or a TestClient in-process
    (``timeout_s`` None: it cannot time out a call; ``Tally.hang_s`` judges the elapsed time).
    Connection errors raise: the server being unreachable is not a finding to count but a failed run."""
    import httpx

    def send(method: str, path: str, headers: Mapping[str, str], query: Mapping[str, Any] | None,
             body: Mapping[str, Any]) -> tuple[int, bytes]:
        kw: dict[str, Any] = {}
        if "json" in body:
            kw["json"] = body["json"]
        elif "content" in body:
            kw["content"] = body["content"]
        elif "data" in body:
            data = body["data"]
            kw["content" if isinstance(data, (bytes, str)) else "data"] = data
        if "files" in body:
            kw["files"] = body["files"]
        if timeout_s is not None:
            kw["timeout"] = timeout_s
        try:
            r = client.request(method, path, headers=dict(headers), params=query, **kw)
        except httpx.TimeoutException:
            return HANG, b""
        except httpx.LocalProtocolError:  # the client will not send it (e.g. a header value it deems illegal)
            return UNSENDABLE, b""
        return r.status_code, r.content

    return send
