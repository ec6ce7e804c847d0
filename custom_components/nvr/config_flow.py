"""Config flow: the NVR entry; its channels and devices are subentries (channel_flow, device_flow).

This flow also logs in again to a device that started rejecting its
password (reauth), and connects a device found on the LAN (discovery).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PASSWORD, CONF_PORT
from homeassistant.core import callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)

from .channel_flow import ChannelSubentryFlow
from .const import (
    CONF_DEVICE,
    CONF_DISCOVER_DEVICES,
    CONF_EVENT_RETAIN_DAYS,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_FREE_GB,
    CONF_MODEL,
    CONF_PROTOCOL,
    CONF_RETAIN_DAYS,
    CONF_SEGMENT_SECONDS,
    CONF_SERIAL,
    CONF_STORAGE_PATH,
    DEFAULT_DISCOVER_DEVICES,
    DEFAULT_EVENT_RETAIN_DAYS,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_NVR_NAME,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DOMAIN,
    MAX_NAME_LENGTH,
    SUBENTRY_CHANNEL,
    SUBENTRY_DEVICE,
)
from .device_discovery import connected_hosts
from .device_flow import (
    DeviceLink,
    DeviceStepsMixin,
    DeviceSubentryFlow,
    connection_from_input,
    login_schema,
    update_device,
)
from .device_runtime import device_connection
from .devices.model import DeviceConnection, Protocol
from .storage import check_storage_path, default_storage_path


class NvrConfigFlow(DeviceStepsMixin, ConfigFlow, domain=DOMAIN):
    """Create an NVR: a name and a folder for its recordings."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Nothing known of a device yet (reauth and discovery)."""
        self.link = DeviceLink()
        self._device_id = ""
        self._discovered: dict[str, Any] = {}

    @classmethod
    @callback
    def async_get_supported_subentry_types(cls, config_entry: ConfigEntry) -> dict[str, type[ConfigSubentryFlow]]:
        """Channels are added to an NVR as subentries."""
        return {SUBENTRY_CHANNEL: ChannelSubentryFlow, SUBENTRY_DEVICE: DeviceSubentryFlow}

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
            elif len(name) > MAX_NAME_LENGTH:
                errors[CONF_NAME] = "name_too_long"
            elif error := await self.hass.async_add_executor_job(check_storage_path, path):
                errors[CONF_STORAGE_PATH] = error
            else:
                await self.async_set_unique_id(path)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=name,
                    data={CONF_NAME: name, CONF_STORAGE_PATH: path},
                    options={
                        CONF_DISCOVER_DEVICES: bool(user_input.get(CONF_DISCOVER_DEVICES, DEFAULT_DISCOVER_DEVICES))
                    },
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME, default=DEFAULT_NVR_NAME): cv.string,
                vol.Required(CONF_STORAGE_PATH, default=default_storage_path(self.hass)): cv.string,
                vol.Required(CONF_DISCOVER_DEVICES, default=DEFAULT_DISCOVER_DEVICES): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """A connected device rejects its login (the device subentry's id is in ``entry_data``)."""
        self._device_id = str(entry_data.get(CONF_DEVICE) or "")
        if self._device_id not in self._get_reauth_entry().subentries:
            return self.async_abort(reason="device_not_found")
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the device's username and password again; its channels follow."""
        entry = self._get_reauth_entry()
        device = entry.subentries.get(self._device_id)
        if device is None:
            return self.async_abort(reason="device_not_found")
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            conn = connection_from_input(user_input, device_connection(device.data))
            errors, detail = await self.link.async_read(self.hass, conn, Protocol(device.data[CONF_PROTOCOL]))
            info = self.link.info
            if not errors and info is not None and device.data.get(CONF_SERIAL) not in ("", None, info.serial):
                errors["base"] = "wrong_device"
            if not errors:
                self.link.entry = entry
                update_device(self.hass, entry, device, {**device.data, **self.link.device_data()})
                return self.async_abort(reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                login_schema(False), {k: v for k, v in device.data.items() if k != CONF_PASSWORD}
            ),
            errors=errors,
            description_placeholders={"device": device.title, "error_detail": f"\n\n{detail}" if detail else ""},
        )

    async def async_step_integration_discovery(self, discovery_info: dict[str, Any]) -> ConfigFlowResult:
        """An ONVIF device found on the LAN (device_discovery)."""
        await self.async_set_unique_id(f"onvif:{discovery_info.get('epr') or discovery_info[CONF_HOST]}")
        self._abort_if_unique_id_configured()
        if discovery_info[CONF_HOST] in connected_hosts(self.hass):
            return self.async_abort(reason="device_already_connected")
        if not self.hass.config_entries.async_loaded_entries(DOMAIN):
            return self.async_abort(reason="no_nvr")
        self._discovered = discovery_info
        name = str(discovery_info.get(CONF_NAME) or discovery_info[CONF_HOST])
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which NVR gets the device, and its login."""
        found = self._discovered
        nvrs = self.hass.config_entries.async_loaded_entries(DOMAIN)
        if not nvrs:
            return self.async_abort(reason="no_nvr")
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            conn = DeviceConnection(
                host=str(found[CONF_HOST]),
                port=int(found[CONF_PORT]),
                username=str(user_input.get("username") or "").strip(),
                password=str(user_input.get(CONF_PASSWORD) or ""),
            )
            errors, detail = await self.link.async_read(self.hass, conn, Protocol.ONVIF)
            if not errors:
                wanted = user_input.get("nvr")
                self.link.entry = next((e for e in nvrs if e.entry_id == wanted), nvrs[0])
                return await self.async_step_channels()
        schema = login_schema(False)
        if len(nvrs) > 1:
            options = [SelectOptionDict(value=e.entry_id, label=e.title) for e in nvrs]
            schema = schema.extend(
                {vol.Required("nvr", default=nvrs[0].entry_id): SelectSelector(SelectSelectorConfig(options=options))}
            )
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "name": str(found.get(CONF_NAME) or found[CONF_HOST]),
                "model": str(found.get(CONF_MODEL) or "ONVIF"),
                "host": f"{found[CONF_HOST]}:{found[CONF_PORT]}",
                "error_detail": f"\n\n{detail}" if detail else "",
            },
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
        vol.Required(CONF_DISCOVER_DEVICES, default=DEFAULT_DISCOVER_DEVICES): BooleanSelector(),
    }
)
_WHOLE = (CONF_RETAIN_DAYS, CONF_EVENT_RETAIN_DAYS, CONF_SEGMENT_SECONDS)


class NvrOptionsFlow(OptionsFlow):
    """Retention and recording settings of an NVR, applied without a reload."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options."""
        if user_input is not None:
            options: dict[str, Any] = {
                key: float(value) for key, value in user_input.items() if key != CONF_DISCOVER_DEVICES
            }
            options[CONF_DISCOVER_DEVICES] = bool(user_input.get(CONF_DISCOVER_DEVICES, DEFAULT_DISCOVER_DEVICES))
            for key in _WHOLE:
                options[key] = int(options[key])
            return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, dict(self.config_entry.options)),
        )
