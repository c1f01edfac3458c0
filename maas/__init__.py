"""maas: Model-as-a-Service edge inference across base-station, optical-access, ground and satellite tiers."""

__version__ = "0.1.0"
__all__ = ["__version__"]
