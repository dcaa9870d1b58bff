"""Secret masking for everything that leaves the process: logs, errors, --validate-config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

SECRET_KEYS = frozenset({
    "api_key", "apikey", "secret", "password", "passphrase", "token", "private_key", "privatekey",
    "uid", "authorization", "x-mbx-apikey", "ok-access-key", "ok-access-passphrase", "x-bapi-api-key",
})
MASK = "***"
# user:password@ inside a URL (amqp://, http:// proxies, postgres DSNs).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def mask_value(value: Any) -> str:
    """How a secret value is shown: whether it is set, never what it is."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return f"{MASK} (set)" if value else "(empty)"


def mask_text(text: str) -> str:
    """Remove credentials embedded in URLs."""
    if "://" not in text:
        return text
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def mask_data(data: Any) -> Any:
    """A copy of nested data with secret keys masked and URL credentials removed."""
    if isinstance(data, Mapping):
        return {
            key: (mask_value(value) if str(key).lower() in SECRET_KEYS and value not in (None, "")
                  else mask_data(value))
            for key, value in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [mask_data(item) for item in data]
    if isinstance(data, SecretStr):
        return mask_value(data)
    if isinstance(data, str):
        return mask_text(data)
    return data
