"""``Topology``: a validated topology file plus its SME sites (explicit, from a CSV file, or generated)."""

from __future__ import annotations

import csv
import datetime as dt
from functools import cached_property
from pathlib import Path

import numpy as np

from maas.errors import ConfigError
from maas.tiers.loader import read_topology_spec
from maas.tiers.spec import TIER_KINDS, RegionSpec, SiteSpec, TierSpec, TopologySpec

__all__ = ["Topology", "load_topology", "haversine_km", "EARTH_RADIUS_KM"]

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius (spherical Earth for ground geometry)."""


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (vectorised, degrees in)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class Topology:
    """Tiers, regions, data centres and sites. Build with ``load_topology(path)``.

    Sites are held as numpy columns so 10,000+ generated sites cost little; ``site(name)`` builds a
    ``SiteSpec`` on demand.
    """

    def __init__(self, spec: TopologySpec, file: str = "<memory>") -> None:
        self.spec = spec
        self.file = file
        self.tiers: dict[str, TierSpec] = {k: spec.tiers[k] for k in TIER_KINDS}
        self.regions: dict[str, RegionSpec] = {r.name: r for r in spec.regions}
        self.datacentres = {d.name: d for d in spec.datacentres}
        self.epoch_s = _parse_iso(spec.epoch, file)
        self._build_sites()
        if spec.sites.default_site not in self._index:
            raise ConfigError(
                file,
                "sites.default_site",
                f"unknown site {spec.sites.default_site!r}",
                "one of the explicit, file or generated site names",
            )

    @property
    def tier_names(self) -> list[str]:
        return list(self.tiers)

    @property
    def default_site(self) -> str:
        return self.spec.sites.default_site

    @property
    def site_names(self) -> list[str]:
        return self._names

    def __len__(self) -> int:
        return len(self._names)

    def site(self, name: str) -> SiteSpec:
        """The site called ``name``; ``KeyError`` if there is none."""
        i = self._index[name]
        cached = self._site_cache.get(i)
        if cached is None:
            cached = self._site_cache[i] = self._make_site(i)
        return cached

    def sites(self, limit: int | None = None, region: str | None = None) -> list[SiteSpec]:
        """Sites in order (optionally only one region, at most ``limit`` of them)."""
        out: list[SiteSpec] = []
        region_i = None if region is None else self._region_names.index(region)
        for i in range(len(self._names)):
            if region_i is not None and self.col_region[i] != region_i:
                continue
            out.append(self.site(self._names[i]))
            if limit is not None and len(out) >= limit:
                break
        return out

    def site_index(self, name: str) -> int:
        return self._index[name]

    def region_of(self, site: str) -> RegionSpec:
        return self.regions[self._region_names[self.col_region[self._index[site]]]]

    @cached_property
    def summary(self) -> dict:
        """Counts per region and per access tier (for ``maas tiers show`` with thousands of sites)."""
        per_region = {r: int((self.col_region == i).sum()) for i, r in enumerate(self._region_names)}
        per_tier = {t: int(self.col_access[:, j].sum()) for j, t in enumerate(TIER_KINDS)}
        return {"count": len(self._names), "per_region": per_region, "per_access_tier": per_tier}

    # -- construction -------------------------------------------------------------------------------
    def _build_sites(self) -> None:
        self._region_names = list(self.regions)
        self._dc_names = list(self.datacentres)
        rows: list[SiteSpec] = list(self.spec.sites.explicit)
        if self.spec.sites.file:
            rows += _read_sites_csv(Path(self.file).parent / self.spec.sites.file, self.file, self.regions)
        names = [s.name for s in rows]
        lat = np.array([s.lat_deg for s in rows], dtype=float)
        lon = np.array([s.lon_deg for s in rows], dtype=float)
        reg = np.array([self._region_names.index(s.region) for s in rows], dtype=np.int32)
        acc = np.array([[k in s.access for k in TIER_KINDS] for s in rows], dtype=bool).reshape(-1, 4)
        cells = [s.cell or f"{s.name}-cell" for s in rows]
        link = np.array([s.link_factor for s in rows], dtype=float)
        dc_fixed = [s.datacentre for s in rows]
        gen = self.spec.sites.generator
        if gen is not None and gen.count > 0:
            g = self._generate(gen.seed, gen.count)
            names += g["names"]
            lat, lon = np.concatenate([lat, g["lat"]]), np.concatenate([lon, g["lon"]])
            reg, acc = np.concatenate([reg, g["region"]]), np.concatenate([acc, g["access"]])
            cells += g["cells"]
            link = np.concatenate([link, g["link"]])
            dc_fixed += [None] * len(g["names"])
        self._names, self.col_lat, self.col_lon, self.col_region = names, lat, lon, reg
        self.col_access, self.col_cell, self.col_link = acc, cells, link
        self._index = {n: i for i, n in enumerate(names)}
        if len(self._index) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ConfigError(self.file, "sites", f"duplicate site name {dup!r}", "unique names")
        dlat = np.array([d.lat_deg for d in self.datacentres.values()])
        dlon = np.array([d.lon_deg for d in self.datacentres.values()])
        dist = (
            haversine_km(lat[:, None], lon[:, None], dlat[None, :], dlon[None, :]) if len(names) else np.zeros((0, 1))
        )
        nearest = dist.argmin(axis=1) if len(names) else np.zeros(0, dtype=int)
        for i, fixed in enumerate(dc_fixed):
            if fixed is not None:
                nearest[i] = self._dc_names.index(fixed)
        self.col_dc = nearest.astype(np.int32)
        self.col_dc_km = dist[np.arange(len(names)), nearest] if len(names) else np.zeros(0)
        self._site_cache: dict[int, SiteSpec] = {}

    def _generate(self, seed: int, count: int) -> dict:
        rng = np.random.default_rng(seed)
        regions = list(self.regions.values())
        w = np.array([r.weight for r in regions])
        n_per = np.floor(count * w / w.sum()).astype(int)
        n_per[-1] += count - n_per.sum()
        out: dict = {"names": [], "cells": [], "lat": [], "lon": [], "region": [], "access": [], "link": []}
        for r, n in zip(regions, n_per, strict=True):
            dist = r.radius_km * np.sqrt(rng.random(n))
            bearing = rng.random(n) * 2 * np.pi
            lat = r.lat_deg + np.degrees(dist * np.cos(bearing) / EARTH_RADIUS_KM)
            lon = r.lon_deg + np.degrees(dist * np.sin(bearing) / EARTH_RADIUS_KM) / np.cos(np.radians(r.lat_deg))
            acc = np.ones((n, 4), dtype=bool)
            acc[:, 0] = rng.random(n) < r.base_station_coverage
            acc[:, 1] = rng.random(n) < r.fibre_fraction
            out["names"] += [f"{r.name}-{k:05d}" for k in range(n)]
            out["cells"] += [f"{r.name}-cell{k // r.sites_per_cell:04d}" for k in range(n)]
            out["lat"].append(np.clip(lat, -90, 90))
            out["lon"].append((lon + 180.0) % 360.0 - 180.0)
            out["region"].append(np.full(n, self._region_names.index(r.name), dtype=np.int32))
            out["access"].append(acc)
            out["link"].append(np.exp(rng.normal(0.0, r.link_sigma, n)))
        for k in ("lat", "lon", "region", "access", "link"):
            out[k] = np.concatenate(out[k]) if out[k] else np.zeros(0)
        return out

    def _make_site(self, i: int) -> SiteSpec:
        return SiteSpec(
            name=self._names[i],
            lat_deg=float(self.col_lat[i]),
            lon_deg=float(self.col_lon[i]),
            region=self._region_names[int(self.col_region[i])],
            access=tuple(k for j, k in enumerate(TIER_KINDS) if self.col_access[i, j]),
            cell=self.col_cell[i],
            datacentre=self._dc_names[int(self.col_dc[i])],
            link_factor=float(self.col_link[i]),
        )


def _parse_iso(text: str, file: str) -> float:
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(file, "epoch", f"not an ISO-8601 time: {text!r}", "e.g. 2026-11-21T00:00:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def _read_sites_csv(path: Path, file: str, regions: dict) -> list[SiteSpec]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(file, "sites.file", f"cannot read {path}: {exc.strerror}", "an existing CSV file") from None
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            access = tuple(a for a in (row.get("access") or "").split(";") if a) or TIER_KINDS
            out.append(
                SiteSpec(
                    name=row["name"],
                    lat_deg=float(row["lat_deg"]),
                    lon_deg=float(row["lon_deg"]),
                    region=row["region"],
                    access=access,
                    cell=row.get("cell") or None,
                    datacentre=row.get("datacentre") or None,
                )
            )
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                str(path),
                f"line {n}",
                f"bad site row: {exc}",
                "columns name,lat_deg,lon_deg,region[,access,cell,datacentre]",
            ) from None
        if out[-1].region not in regions or any(a not in TIER_KINDS for a in out[-1].access):
            raise ConfigError(str(path), f"line {n}", "unknown region or tier", ", ".join(TIER_KINDS))
    return out


def load_topology(path: Path | str) -> Topology:
    """Read, validate and build a topology; raises ``ConfigError`` naming the file, field and allowed values."""
    return Topology(read_topology_spec(path), file=str(path))
