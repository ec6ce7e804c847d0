"""The NVR's storage folder: default location and write check."""

from __future__ import annotations

import os
import tempfile

from homeassistant.core import HomeAssistant

from .const import DEFAULT_STORAGE_FOLDER


def default_storage_path(hass: HomeAssistant) -> str:
    """``nvr/`` under HA's local media folder."""
    media = hass.config.media_dirs.get("local") or next(
        iter(hass.config.media_dirs.values()), hass.config.path("media")
    )
    return os.path.join(media, DEFAULT_STORAGE_FOLDER)


def check_storage_path(path: str) -> str | None:
    """Create the folder if needed and prove it is writable; blocking.

    Returns None when usable, else an error key of the config flow.
    """
    if not path or not os.path.isabs(path):
        return "path_not_absolute"
    if os.path.exists(path) and not os.path.isdir(path):
        return "path_not_directory"
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".nvr-write-test-"):
            pass
    except OSError:
        return "path_not_writable"
    return None
