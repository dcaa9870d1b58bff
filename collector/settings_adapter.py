"""The one adapter to pydantic-settings' internals: its environment parser run on a mapping of
our choosing (the `.env` file's names, then the real environment's) instead of `os.environ`.

`EnvSettingsSource` offers no parameter for that; it keeps what it read in `env_vars`, which we
replace before calling it (its parsing of `__`-nested names, case and prefix stays its own).
`check_supported()` fails loudly (at config load, and in tests/unit/test_settings_adapter.py) on
a pydantic-settings whose version or source lacks it, instead of ignoring every override.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from typing import Any, Final

from pydantic_settings import BaseSettings, EnvSettingsSource

SUPPORTED_PYDANTIC_SETTINGS: Final = ((2, 16),)  # (major, minor) whose EnvSettingsSource we fill


class UnsupportedPydanticSettings(Exception):
    """The installed pydantic-settings is not one this adapter was written against."""


def check_supported(source: object | None = None) -> None:
    version = metadata.version("pydantic-settings")
    if tuple(int(part) for part in version.split(".")[:2]) not in SUPPORTED_PYDANTIC_SETTINGS:
        raise UnsupportedPydanticSettings(
            f"pydantic-settings {version} is not supported by collector/settings_adapter.py (written for "
            f"{', '.join('.'.join(map(str, v)) for v in SUPPORTED_PYDANTIC_SETTINGS)})")
    if source is not None and not isinstance(getattr(source, "env_vars", None), Mapping):
        raise UnsupportedPydanticSettings(f"pydantic-settings {version}'s EnvSettingsSource lacks env_vars")


def parse_environment(settings: type[BaseSettings], names: Mapping[str, str]) -> dict[str, Any]:
    """What `settings` would read from an environment holding exactly `names`."""
    source = EnvSettingsSource(settings)
    check_supported(source)
    source.env_vars = {key.lower(): value for key, value in names.items()}
    return source()
