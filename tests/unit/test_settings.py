"""Settings precedence (defaults < file < env < flags) and config errors that name the file and field."""

from __future__ import annotations

import pytest

from maas.errors import ConfigError
from maas.settings import load_settings


def test_precedence_defaults_file_env_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("MAAS_PORT", raising=False)
    monkeypatch.delenv("MAAS_SEED", raising=False)
    assert load_settings(None).port == 8000
    config = tmp_path / "maas.yaml"
    config.write_text("port: 9001\nseed: 5\n")
    assert load_settings(config).port == 9001
    monkeypatch.setenv("MAAS_PORT", "9002")
    settings = load_settings(config)
    assert settings.port == 9002 and settings.seed == 5
    assert load_settings(config, port=9003, seed=None).port == 9003


@pytest.mark.parametrize(
    ("text", "field"),
    [("port: 0\n", "port"), ("network_emulation: -1\n", "network_emulation"), ("colour: red\n", "colour"), ("- 1\n", "<top level>")],
)
def test_bad_config_names_file_and_field(tmp_path, monkeypatch, text, field):
    monkeypatch.delenv("MAAS_PORT", raising=False)
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(config) in err.value.message and field in err.value.message


def test_bad_env_value_is_a_config_error(monkeypatch):
    monkeypatch.setenv("MAAS_PORT", "eighty")
    with pytest.raises(ConfigError, match="port"):
        load_settings(None)
