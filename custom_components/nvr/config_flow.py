"""Config flow: the NVR entry; its channels are subentries (channel_flow)."""

from __future__ import annotations

import os
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigFlowResult, ConfigSubentryFlow
from homeassistant.const import CONF_NAME
from homeassistant.core import callback
from homeassistant.helpers import config_validation as cv

from .channel_flow import ChannelSubentryFlow
from .const import CONF_STORAGE_PATH, DEFAULT_NVR_NAME, DOMAIN, SUBENTRY_CHANNEL
from .storage import check_storage_path, default_storage_path


class NvrConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create an NVR: a name and a folder for its recordings."""

    VERSION = 1
    MINOR_VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(cls, config_entry: ConfigEntry) -> dict[str, type[ConfigSubentryFlow]]:
        """Channels are added to an NVR as subentries."""
        return {SUBENTRY_CHANNEL: ChannelSubentryFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the NVR's name and storage folder."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            raw_path = user_input[CONF_STORAGE_PATH].strip()
            path = os.path.normpath(raw_path) if raw_path else ""
            if not name:
                errors[CONF_NAME] = "name_required"
            elif error := await self.hass.async_add_executor_job(check_storage_path, path):
                errors[CONF_STORAGE_PATH] = error
            else:
                await self.async_set_unique_id(path)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=name, data={CONF_NAME: name, CONF_STORAGE_PATH: path})
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME, default=DEFAULT_NVR_NAME): cv.string,
                vol.Required(CONF_STORAGE_PATH, default=default_storage_path(self.hass)): cv.string,
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )
