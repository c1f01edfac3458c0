"""The ``maas`` command (see maas.cli.main)."""
