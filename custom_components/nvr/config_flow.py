"""Config flow: the NVR entry; its channels are subentries (channel_flow)."""

from __future__ import annotations

import os
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.selector import NumberSelector, NumberSelectorConfig, NumberSelectorMode

from .channel_flow import ChannelSubentryFlow
from .const import (
    CONF_EVENT_RETAIN_DAYS,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_FREE_GB,
    CONF_RETAIN_DAYS,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_PATH,
    DEFAULT_EVENT_RETAIN_DAYS,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_NVR_NAME,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DOMAIN,
    SUBENTRY_CHANNEL,
)
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

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> NvrOptionsFlow:
        """Retention and segment length of the NVR."""
        return NvrOptionsFlow()

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


def _number(minimum: float, maximum: float, unit: str, step: float = 1) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(min=minimum, max=maximum, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX)
    )


OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_RETAIN_DAYS, default=DEFAULT_RETAIN_DAYS): _number(1, 3650, "d"),
        vol.Required(CONF_EVENT_RETAIN_DAYS, default=DEFAULT_EVENT_RETAIN_DAYS): _number(1, 3650, "d"),
        vol.Required(CONF_MAX_STORAGE_GB, default=DEFAULT_MAX_STORAGE_GB): _number(0, 1_000_000, "GB", 0.1),
        vol.Required(CONF_MIN_FREE_GB, default=DEFAULT_MIN_FREE_GB): _number(0, 10_000, "GB", 0.1),
        vol.Required(CONF_SEGMENT_SECONDS, default=DEFAULT_SEGMENT_SECONDS): _number(10, 600, "s"),
    }
)
_WHOLE = (CONF_RETAIN_DAYS, CONF_EVENT_RETAIN_DAYS, CONF_SEGMENT_SECONDS)


class NvrOptionsFlow(OptionsFlow):
    """Retention and recording settings of an NVR, applied without a reload."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options."""
        if user_input is not None:
            options = {key: float(value) for key, value in user_input.items()}
            for key in _WHOLE:
                options[key] = int(options[key])
            return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, dict(self.config_entry.options)),
        )
