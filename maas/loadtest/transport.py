"""Sending requests: the ``Transport`` protocol, its aiohttp implementation, and pre-run server probes.

The engine only needs ``await transport.send(entry, body) -> Outcome``; unit tests pass a fake. ``probe_server``
runs before a test: it reports an unreachable URL (``ServerUnreachable``, a tool error) and an unknown model
(``maas.errors.ModelNotFound``, a usage error) and returns each model's V2 metadata.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

import aiohttp

from maas.errors import MaasError, ModelNotFound
from maas.loadtest.mix import PreparedEntry
from maas.loadtest.recorder import Outcome

__all__ = ["Transport", "AiohttpTransport", "ServerUnreachable", "probe_server", "server_metadata"]


class ServerUnreachable(MaasError):
    """The URL does not answer (connection refused, DNS failure, timeout)."""

    status = 503


class Transport(Protocol):
    async def send(self, entry: PreparedEntry, body: bytes) -> Outcome:
        """POST one request body; never raises for HTTP, connection or timeout failures."""
        ...


class AiohttpTransport:
    """aiohttp client session with a keep-alive connection pool.

    Lifecycle: 1. build with the base URL; 2. ``await open()`` inside the running loop; 3. ``send`` many times,
    concurrently; 4. ``await close()``."""

    def __init__(
        self, base_url: str, timeout_s: float = 10.0, max_connections: int = 0, headers: dict[str, str] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.headers = headers or {}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers=self.headers,
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, entry: PreparedEntry, body: bytes) -> Outcome:
        assert self._session is not None, "open() first"
        try:
            async with self._session.post(self.base_url + entry.path, data=body, headers=entry.headers) as resp:
                raw = await resp.read()
                status = resp.status
        except asyncio.TimeoutError:
            return Outcome(-1, error=f"timeout after {self.timeout_s:g} s")
        except aiohttp.ClientError as exc:
            return Outcome(0, error=f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            return Outcome(0, error=f"{type(exc).__name__}: {exc}")
        ok = 200 <= status < 300
        if ok and b'"parameters"' not in raw:  # a plain V2 server: nothing to read back
            return Outcome(status, None, len(raw))
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        if ok:
            params = doc.get("parameters")
            return Outcome(status, params if isinstance(params, dict) else None, len(raw))
        return Outcome(status, None, len(raw), f"HTTP {status}: {doc.get('error', raw[:200].decode(errors='replace'))}")


async def _probe(
    base_url: str, models: list[str], timeout_s: float, headers: dict[str, str]
) -> dict[str, dict[str, Any]]:
    base = base_url.rstrip("/")
    out: dict[str, dict[str, Any]] = {}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            async with session.get(f"{base}/v2/health/ready") as resp:
                await resp.read()
            for model in models:
                async with session.get(f"{base}/v2/models/{model}") as resp:
                    raw = await resp.read()
                    try:
                        doc = json.loads(raw) if raw else {}
                    except ValueError:
                        doc = {}
                    if resp.status == 404:
                        detail = doc.get("error") if isinstance(doc, dict) else None
                        raise ModelNotFound(
                            f"model {model!r} is not served at {base}" + (f": {detail}" if detail else "")
                        )
                    out[model] = doc if resp.status == 200 and isinstance(doc, dict) else {}
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError) as exc:
        raise ServerUnreachable(f"cannot reach {base}: {type(exc).__name__}: {exc}") from None
    except aiohttp.InvalidURL:
        raise ServerUnreachable(f"not a valid URL: {base_url!r}") from None
    return out


def probe_server(
    base_url: str, models: list[str], timeout_s: float = 5.0, headers: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Check the server answers and serves every model; return {model: V2 metadata (may be empty)}."""
    return asyncio.run(_probe(base_url, models, timeout_s, headers or {}))


async def _server_metadata(base_url: str, timeout_s: float, headers: dict[str, str]) -> dict[str, Any]:
    base = base_url.rstrip("/")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s), headers=headers) as session:
            async with session.get(f"{base}/v2") as resp:
                raw = await resp.read()
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError) as exc:
        raise ServerUnreachable(f"cannot reach {base}: {type(exc).__name__}: {exc}") from None
    except aiohttp.InvalidURL:
        raise ServerUnreachable(f"not a valid URL: {base_url!r}") from None
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {}
    return doc if resp.status == 200 and isinstance(doc, dict) else {}


def server_metadata(base_url: str, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The V2 server metadata (``GET /v2``; {} when the server answers something else)."""
    return asyncio.run(_server_metadata(base_url, timeout_s, headers or {}))
