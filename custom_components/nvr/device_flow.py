"""Connect a recorder or camera once and tick its channels (the "device" subentry flow).

The same steps serve the discovered flow and reauth (config_flow): the
device's login is asked once and stored on its device subentry; every
ticked channel becomes a channel subentry linked to it, with its main and
sub stream filled in and no credentials of its own.
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigSubentry, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_DEVICE,
    CONF_DEVICE_CHANNEL,
    CONF_FIRMWARE,
    CONF_MAIN_URL,
    CONF_MANUFACTURER,
    CONF_MODEL,
    CONF_MOTION_SOURCE,
    CONF_PROTOCOL,
    CONF_RTSP_TRANSPORT,
    CONF_SERIAL,
    CONF_STREAM_FORMATS,
    CONF_SUB_URL,
    DEFAULT_DEVICE_MOTION_SOURCE,
    DEFAULT_TRANSPORT,
    DEVICE_TIMEOUT,
    DOMAIN,
    MOTION_SOURCES,
    SUBENTRY_CHANNEL,
    SUBENTRY_DEVICE,
)
from .device_runtime import device_connection, linked_channels
from .devices.connect import async_read_device
from .devices.model import DeviceChannel, DeviceConnection, DeviceError, DeviceInfo, Protocol, StreamDetail
from .engine import InvalidUrlError, stream_key
from .runtime import channel_subentries

_LOGGER = logging.getLogger(__name__)

AUTO = "auto"
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX))
_PROTOCOL = SelectSelector(
    SelectSelectorConfig(
        options=[AUTO, Protocol.ISAPI.value, Protocol.ONVIF.value],
        mode=SelectSelectorMode.DROPDOWN,
        translation_key=CONF_PROTOCOL,
    )
)
MOTION_SOURCE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=list(MOTION_SOURCES), mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_MOTION_SOURCE
    )
)


def login_schema(with_host: bool, password_required: bool = True) -> vol.Schema:
    """Host, port and login (and the protocol when the device is new)."""
    fields: dict[Any, Any] = {}
    if with_host:
        fields[vol.Required(CONF_HOST)] = TextSelector()
        fields[vol.Required(CONF_PORT, default=80)] = _PORT
    fields[vol.Required(CONF_USERNAME, default="admin")] = TextSelector()
    fields[vol.Required(CONF_PASSWORD) if password_required else vol.Optional(CONF_PASSWORD)] = _PASSWORD
    return vol.Schema(fields)


DEVICE_SCHEMA = login_schema(True).extend({vol.Required(CONF_PROTOCOL, default=AUTO): _PROTOCOL})


def device_unique_id(info: DeviceInfo, conn: DeviceConnection) -> str:
    """A device subentry's unique id: its serial number, or its address when it reports none."""
    return f"{info.protocol}:{info.serial}" if info.serial else f"{info.protocol}:{conn.host}:{conn.port}"


class DeviceLink:
    """What a flow learnt of a device: its connection, identity and channels."""

    def __init__(self) -> None:
        """Nothing known yet."""
        self.conn: DeviceConnection | None = None
        self.info: DeviceInfo | None = None
        self.channels: list[DeviceChannel] = []
        self.entry: ConfigEntry | None = None
        self.offered: list[DeviceChannel] = []
        self.hass: HomeAssistant | None = None

    async def async_read(
        self, hass: HomeAssistant, conn: DeviceConnection, protocol: Protocol | None
    ) -> tuple[dict[str, str], str]:
        """Connect and read the device; returns errors for the form and a detail (English, no credentials)."""
        try:
            info, channels = await async_read_device(async_get_clientsession(hass), conn, protocol, DEVICE_TIMEOUT)
        except DeviceError as err:
            _LOGGER.debug("Device %s:%s: %s", conn.host, conn.port, err.detail or err.reason)
            return {"base": err.reason.value}, err.detail
        self.conn, self.info, self.channels = conn, info, channels
        self.hass = hass
        return {}, ""

    def existing_device(self) -> ConfigSubentry | None:
        """The entry's device subentry for this device, if it was connected before."""
        assert self.entry is not None and self.info is not None and self.conn is not None
        unique_id = device_unique_id(self.info, self.conn)
        return next((s for s in self.entry.subentries.values() if s.unique_id == unique_id), None)

    def channels_schema(self) -> tuple[vol.Schema, int]:
        """The channels not added yet (online ones ticked) and the motion source; and how many are already added."""
        assert self.entry is not None and self.hass is not None
        existing = self.existing_device()
        added = set(linked_channels(self.entry, existing.subentry_id)) if existing is not None else set()
        in_use = _stream_keys_in_use(self.hass)
        self.offered = [
            channel
            for channel in self.channels
            if channel.id not in added and (key := _key(channel.main.url)) is not None and key not in in_use
        ]
        options = [SelectOptionDict(value=channel.id, label=channel_label(channel)) for channel in self.offered]
        schema = vol.Schema(
            {
                vol.Optional("channels", default=[c.id for c in self.offered if c.online]): SelectSelector(
                    SelectSelectorConfig(options=options, multiple=True, mode=SelectSelectorMode.LIST)
                ),
                vol.Required(CONF_MOTION_SOURCE, default=DEFAULT_DEVICE_MOTION_SOURCE): MOTION_SOURCE_SELECTOR,
            }
        )
        return schema, len(self.channels) - len(self.offered)

    def add(self, hass: HomeAssistant, picked: list[str], motion_source: str) -> int:
        """Add (or update) the device subentry and a channel subentry per pick; how many channels were added."""
        assert self.entry is not None and self.info is not None and self.conn is not None
        entries = hass.config_entries
        device_data = self.device_data()
        existing = self.existing_device()
        if existing is None:
            existing = ConfigSubentry(
                data=MappingProxyType(device_data),
                subentry_type=SUBENTRY_DEVICE,
                title=self.info.name,
                unique_id=device_unique_id(self.info, self.conn),
            )
            entries.async_add_subentry(self.entry, existing)
        elif dict(existing.data) != device_data:  # new address or login given: all its channels follow
            update_device(hass, self.entry, existing, device_data)
        by_id = {channel.id: channel for channel in self.offered}
        added = 0
        for channel_id in picked:
            if (channel := by_id.get(channel_id)) is None:
                continue
            entries.async_add_subentry(
                self.entry,
                ConfigSubentry(
                    data=MappingProxyType(channel_subentry_data(channel, existing.subentry_id, motion_source)),
                    subentry_type=SUBENTRY_CHANNEL,
                    title=channel.name,
                    unique_id=stream_key(channel.main.url),
                ),
            )
            added += 1
        return added

    def device_data(self) -> dict[str, Any]:
        """The device subentry's data."""
        assert self.info is not None and self.conn is not None
        return {
            CONF_PROTOCOL: self.info.protocol.value,
            CONF_HOST: self.conn.host,
            CONF_PORT: self.conn.port,
            CONF_USERNAME: self.conn.username,
            CONF_PASSWORD: self.conn.password,
            CONF_NAME: self.info.name,
            CONF_MANUFACTURER: self.info.manufacturer,
            CONF_MODEL: self.info.model,
            CONF_SERIAL: self.info.serial or "",
            CONF_FIRMWARE: self.info.firmware or "",
        }


def channel_label(channel: DeviceChannel) -> str:
    """How a channel is listed: id, name, streams, and whether it is online (English; the form's text is not)."""
    streams = ", sub ".join(_describe(s) for s in (channel.main, channel.sub) if s is not None)
    return f"{channel.id} · {channel.name} — {streams} — {'online' if channel.online else 'OFFLINE'}"


def _describe(stream: StreamDetail) -> str:
    size = f"{stream.width}×{stream.height}" if stream.width and stream.height else "?"
    return f"{size} {(stream.codec or '?').upper().replace('HEVC', 'H.265').replace('H264', 'H.264')}"


def channel_subentry_data(channel: DeviceChannel, device_id: str, motion_source: str) -> dict[str, Any]:
    """A device channel's subentry data: streams from the device, no credentials (the device has them)."""
    formats = {
        role: [stream.codec, stream.width, stream.height]
        for role, stream in (("main", channel.main), ("sub", channel.sub))
        if stream is not None and stream.codec in ("h264", "hevc") and stream.width and stream.height
    }
    return {
        CONF_NAME: channel.name,
        CONF_MAIN_URL: channel.main.url,
        CONF_SUB_URL: channel.sub.url if channel.sub is not None else "",
        CONF_RTSP_TRANSPORT: DEFAULT_TRANSPORT,
        CONF_STREAM_FORMATS: formats,
        CONF_DEVICE: device_id,
        CONF_DEVICE_CHANNEL: channel.id,
        CONF_MOTION_SOURCE: motion_source if motion_source in MOTION_SOURCES else DEFAULT_DEVICE_MOTION_SOURCE,
    }


def update_device(hass: HomeAssistant, entry: ConfigEntry, device: ConfigSubentry, data: dict[str, Any]) -> None:
    """Store a device's new address or login; its channels' stream URLs follow a new host."""
    old_host = device.data.get(CONF_HOST)
    new_host = data.get(CONF_HOST, old_host)
    entries = hass.config_entries
    entries.async_update_subentry(entry, device, data=data, title=data.get(CONF_NAME) or device.title)
    if new_host == old_host:
        return
    for channel in channel_subentries(entry):
        if channel.data.get(CONF_DEVICE) != device.subentry_id:
            continue
        moved = {
            field: _with_host(url, str(old_host), str(new_host))
            for field in (CONF_MAIN_URL, CONF_SUB_URL)
            if (url := channel.data.get(field))
        }
        if moved:
            unique_id = stream_key(moved[CONF_MAIN_URL]) if CONF_MAIN_URL in moved else channel.unique_id
            entries.async_update_subentry(entry, channel, data={**channel.data, **moved}, unique_id=unique_id)


def _with_host(url: str, old_host: str, new_host: str) -> str:
    parts = urlsplit(url)
    if parts.hostname != old_host:
        return url
    host = f"[{new_host}]" if ":" in new_host else new_host
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _key(url: str) -> str | None:
    try:
        return stream_key(url)
    except InvalidUrlError:
        return None


def _stream_keys_in_use(hass: HomeAssistant) -> set[str | None]:
    return {
        _key(subentry.data.get(CONF_MAIN_URL) or "")
        for entry in hass.config_entries.async_entries(DOMAIN)
        for subentry in channel_subentries(entry)
    }


def connection_from_input(user_input: dict[str, Any], current: DeviceConnection | None = None) -> DeviceConnection:
    """The connection a form asks for; a password left empty keeps ``current``'s.

    A host pasted as the device's web address (``http://192.168.1.64/``) counts as its host name.
    """
    host = str(user_input.get(CONF_HOST) or (current.host if current else "")).strip()
    if "://" in host:
        host = urlsplit(host).hostname or ""
    return DeviceConnection(
        host=host,
        port=int(user_input.get(CONF_PORT) or (current.port if current else 80)),
        username=str(user_input.get(CONF_USERNAME) or "").strip(),
        password=str(user_input.get(CONF_PASSWORD) or "") or (current.password if current else ""),
    )


class DeviceStepsMixin:
    """The channels step, shared by the device subentry flow and the discovered flow."""

    link: DeviceLink

    async def async_step_channels(self, user_input: dict[str, Any] | None = None) -> Any:
        """List the device's channels not added yet; add the ticked ones."""
        link = self.link
        assert link.info is not None
        schema, already = link.channels_schema()
        errors: dict[str, str] = {}
        if not link.offered:
            return self.async_abort(  # type: ignore[attr-defined]
                reason="no_new_channels", description_placeholders={"device": link.info.name}
            )
        if user_input is not None:
            picked = [str(c) for c in user_input.get("channels") or []]
            if picked:
                added = link.add(self.hass, picked, str(user_input.get(CONF_MOTION_SOURCE)))  # type: ignore[attr-defined]
                return self.async_abort(  # type: ignore[attr-defined]
                    reason="device_connected",
                    description_placeholders={"device": link.info.name, "count": str(added)},
                )
            errors["channels"] = "no_channel_selected"
        offline = sum(1 for c in link.offered if not c.online)
        return self.async_show_form(  # type: ignore[attr-defined]
            step_id="channels",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "device": link.info.name,
                "model": link.info.model,
                "protocol": "ISAPI" if link.info.protocol is Protocol.ISAPI else "ONVIF",
                "offered": str(len(link.offered)),
                "offline": str(offline),
                "added": str(already),
            },
        )


class DeviceSubentryFlow(DeviceStepsMixin, ConfigSubentryFlow):
    """Connect a device (Hikvision ISAPI or ONVIF), or change its address or login."""

    def __init__(self) -> None:
        """Start with nothing known."""
        self.link = DeviceLink()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask for the device's address and login; detect what it speaks."""
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            conn = connection_from_input(user_input)
            choice = user_input.get(CONF_PROTOCOL, AUTO)
            protocol = None if choice == AUTO else Protocol(choice)
            if not conn.host:
                errors[CONF_HOST] = "host_required"
            else:
                errors, detail = await self.link.async_read(self.hass, conn, protocol)
            if not errors:
                self.link.entry = self._get_entry()
                return await self.async_step_channels()
        defaults = {k: v for k, v in (user_input or {}).items() if k != CONF_PASSWORD}
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(DEVICE_SCHEMA, defaults),
            errors=errors,
            description_placeholders={"error_detail": f"\n\n{detail}" if detail else ""},
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Change the device's host, port or login; all its channels follow. The password is never shown."""
        device = self._get_reconfigure_subentry()
        current = device_connection(device.data)
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            conn = connection_from_input(user_input, current)
            errors, detail = await self.link.async_read(self.hass, conn, Protocol(device.data[CONF_PROTOCOL]))
            info = self.link.info
            if not errors and info is not None and device.data.get(CONF_SERIAL) not in ("", None, info.serial):
                errors["base"] = "wrong_device"
            if not errors:
                self.link.entry = self._get_entry()
                update_device(self.hass, self._get_entry(), device, {**device.data, **self.link.device_data()})
                return self.async_abort(reason="reconfigure_successful")
        defaults = {k: v for k, v in (user_input or device.data).items() if k != CONF_PASSWORD}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(login_schema(True, password_required=False), defaults),
            errors=errors,
            description_placeholders={"device": device.title, "error_detail": f"\n\n{detail}" if detail else ""},
        )
