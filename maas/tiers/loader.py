"""Load and validate a topology file; every problem becomes a ``ConfigError(file, field, problem, allowed)``."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError

from maas.errors import ConfigError
from maas.tiers.spec import TIER_KINDS, TopologySpec

__all__ = ["read_topology_spec", "yaml_comments"]


def read_topology_spec(path: Path | str) -> TopologySpec:
    """Parse and validate ``path`` into a ``TopologySpec`` (no sites generated yet)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, "(file)", f"cannot read: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(file, "(yaml)", f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(file, "(top level)", "expected a mapping", "a YAML mapping with tiers, regions, sites")
    tiers = raw.get("tiers")
    if isinstance(tiers, dict):
        for name, body in tiers.items():
            if name not in TIER_KINDS:
                raise ConfigError(file, f"tiers.{name}", "unknown tier", ", ".join(TIER_KINDS))
            if isinstance(body, dict):
                body.setdefault("name", name)
                body.setdefault("kind", name)
    try:
        spec = TopologySpec.model_validate(raw)
    except ValidationError as exc:
        raise _to_config_error(file, exc) from None
    _cross_check(file, spec)
    return spec


def _cross_check(file: str, spec: TopologySpec) -> None:
    missing = [k for k in TIER_KINDS if k not in spec.tiers]
    if missing:
        raise ConfigError(file, f"tiers.{missing[0]}", "missing tier", ", ".join(TIER_KINDS))
    regions = {r.name for r in spec.regions}
    if not regions:
        raise ConfigError(file, "regions", "at least one region is required", "a non-empty list")
    if not spec.datacentres:
        raise ConfigError(file, "datacentres", "at least one data centre is required", "a non-empty list")
    dcs = {d.name for d in spec.datacentres}
    for i, dc in enumerate(spec.datacentres):
        if dc.region not in regions:
            raise ConfigError(file, f"datacentres[{i}].region", f"unknown region {dc.region!r}", ", ".join(regions))
    for i, site in enumerate(spec.sites.explicit):
        where = f"sites.explicit[{i}]"
        if site.region not in regions:
            raise ConfigError(file, f"{where}.region", f"unknown region {site.region!r}", ", ".join(sorted(regions)))
        for tier in site.access:
            if tier not in TIER_KINDS:
                raise ConfigError(file, f"{where}.access", f"unknown tier {tier!r}", ", ".join(TIER_KINDS))
        if site.datacentre is not None and site.datacentre not in dcs:
            raise ConfigError(file, f"{where}.datacentre", f"unknown {site.datacentre!r}", ", ".join(sorted(dcs)))
    sat = spec.tiers["satellite"]
    if sat.kind != "satellite":
        raise ConfigError(file, "tiers.satellite.kind", f"{sat.kind!r} does not match its name", "satellite")


def _to_config_error(file: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    msg = str(err.get("msg", "invalid"))
    custom = re.match(r"^(?:Value error, )?([a-z_0-9]+)\|(.*)\|(.*)$", msg)
    if custom:
        return ConfigError(file, _dotted(loc + [custom.group(1)]), custom.group(2), custom.group(3))
    if err["type"] == "missing":
        return ConfigError(file, _dotted(loc), "missing required field", _allowed_for(loc) or "a value")
    if err["type"] == "extra_forbidden":
        return ConfigError(file, _dotted(loc), "unknown field", _known_fields(loc[:-1]))
    return ConfigError(file, _dotted(loc), f"{msg} (got {err.get('input')!r})", _allowed_for(loc))


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _field_info(loc: list[str]) -> Any:
    model: Any = TopologySpec
    info = None
    for part in loc:
        if part.isdigit() or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        if part not in model.model_fields:
            if model.__name__ == "TopologySpec" or info is not None and _is_dict(info):
                continue
            return None
        info = model.model_fields[part]
        model = _inner_model(info.annotation)
    return info


def _is_dict(info: Any) -> bool:
    return typing.get_origin(info.annotation) is dict


def _inner_model(annotation: Any) -> Any:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for sub in typing.get_args(arg):
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                return sub
    return None


def _allowed_for(loc: list[str]) -> str | None:
    """Describe the allowed values of the field at ``loc`` (bounds, literals)."""
    info = _field_info(loc)
    if info is None:
        return None
    lits = [a for a in (info.annotation, *typing.get_args(info.annotation)) if typing.get_origin(a) is typing.Literal]
    if typing.get_origin(info.annotation) is typing.Literal:
        lits = [info.annotation]
    if lits:
        return ", ".join(str(v) for v in typing.get_args(lits[0]))
    lo = hi = None
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = (m.ge, "<=")
        elif isinstance(m, annotated_types.Gt):
            lo = (m.gt, "<")
        elif isinstance(m, annotated_types.Le):
            hi = ("<=", m.le)
        elif isinstance(m, annotated_types.Lt):
            hi = ("<", m.lt)
    if lo and hi:
        return f"{lo[0]} {lo[1]} x {hi[0]} {hi[1]}"
    if lo:
        return f"x {'>=' if lo[1] == '<=' else '>'} {lo[0]}"
    if hi:
        return f"x {hi[0]} {hi[1]}"
    return info.description or None


def _known_fields(loc: list[str]) -> str:
    info = _field_info(loc) if loc else None
    model = _inner_model(info.annotation) if info is not None else TopologySpec
    return ", ".join(model.model_fields) if model is not None else "see the documentation"


def yaml_comments(path: Path | str) -> dict[str, str]:
    """Map dotted keys of a block-style YAML file to the ``# comment`` on their line (the value's source)."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(\s*)(- )?([A-Za-z0-9_\-]+):(.*)$", line)
        if not m:
            continue
        indent = len(m.group(1)) + (2 if m.group(2) else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = m.group(3)
        stack.append((indent, key))
        rest = m.group(4)
        if "#" in rest:
            value, comment = rest.split("#", 1)
            out[".".join(k for _, k in stack)] = comment.strip()
    return out
