"""The ``maas`` command: thin wrappers over library functions. Exit codes: 0 ok, 1 error, 2 usage."""

from __future__ import annotations

import typer

from maas.cli import loadtest, platform, route, sim, sim_generate, sim_live, sim_sweep, tenants, tiers, usage
from maas.cli import models as models_cli
from maas.cli import plan as plan_cli
from maas.cli import rollout as rollout_cli
from maas.cli import top as top_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="maas",
    help="Model-as-a-Service across base-station, optical-access, ground and satellite tiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
platform.register(app)
app.add_typer(models_cli.app, name="models")
app.add_typer(tiers.app, name="tiers")
app.add_typer(sim.app, name="sim")
sim_generate.register(sim.app)
sim_sweep.register(sim.app)
plan_cli.register(app)
app.add_typer(sim_live.app, name="sim-live")
app.add_typer(loadtest.app, name="loadtest")
app.add_typer(route.app, name="route")
app.add_typer(tenants.tenants_app, name="tenants")
app.add_typer(tenants.keys_app, name="keys")
usage.register(app)
app.add_typer(rollout_cli.app, name="rollout")
top_cli.register(app)  # maas top (maas.cli.top)


def main() -> None:
    app()
