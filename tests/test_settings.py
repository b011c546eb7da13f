"""Settings resolve in layers and reject unknown keys with a precise message."""

from __future__ import annotations

import pytest

from parcours.errors import ConfigError
from parcours.settings import default_toml, load_settings


def test_defaults():
    s = load_settings(environ={})
    assert (s.engine.kind, s.serve.port, s.collect.sink) == ("duckdb", 8000, "spool")


def test_layers_precedence(tmp_path):
    (tmp_path / "parcours.toml").write_text('[engine]\nkind = "spark"\n[serve]\nport = 9000\nhost = "0.0.0.0"\n')
    s = load_settings(tmp_path, environ={})
    assert (s.engine.kind, s.serve.port, s.serve.host) == ("spark", 9000, "0.0.0.0")
    env = {"PARCOURS__SERVE__PORT": "9100", "OTHER": "x"}
    s = load_settings(tmp_path, environ=env)
    assert s.serve.port == 9100 and s.engine.kind == "spark"
    s = load_settings(tmp_path, environ=env, overrides={"serve": {"port": 9200}})
    assert s.serve.port == 9200 and s.serve.host == "0.0.0.0"


def test_unknown_keys_are_rejected_with_origin(tmp_path):
    (tmp_path / "parcours.toml").write_text("[engine]\nknd = 'spark'\n")
    with pytest.raises(ConfigError, match=r"^invalid settings \(parcours.toml\): engine.knd: unknown setting$"):
        load_settings(tmp_path, environ={})
    with pytest.raises(ConfigError, match=r"\(environment\): servre: unknown setting"):
        load_settings(environ={"PARCOURS__SERVRE__PORT": "1"})
    with pytest.raises(ConfigError, match=r"\(environment\): serve.port: Input should be a valid integer"):
        load_settings(environ={"PARCOURS__SERVE__PORT": "eighty"})
    with pytest.raises(ConfigError, match=r"\(arguments\): engine.kind: Input should be 'duckdb' or 'spark'"):
        load_settings(environ={}, overrides={"engine": {"kind": "oracle"}})


def test_bad_toml(tmp_path):
    (tmp_path / "parcours.toml").write_text("[engine\n")
    with pytest.raises(ConfigError, match="parcours.toml is not valid TOML"):
        load_settings(tmp_path, environ={})


def test_default_toml_is_valid_and_documented(tmp_path):
    text = default_toml()
    (tmp_path / "parcours.toml").write_text(text)
    assert load_settings(tmp_path, environ={}).engine.kind == "duckdb"
    assert "[engine]" in text and "# kind = \"duckdb\"" in text
    assert "DuckDB memory limit" in text  # descriptions are carried over
