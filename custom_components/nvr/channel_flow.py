"""Subentry flow that adds or reconfigures a channel.

Every stream is validated by really opening it (in a worker thread, with a
timeout); what was found is shown before the channel is saved.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigSubentry, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_DEVICE,
    CONF_MAIN_URL,
    CONF_MOTION_DETECT_FPS,
    CONF_MOTION_LOW_POWER,
    CONF_MOTION_MASKS,
    CONF_MOTION_ZONES,
    CONF_OBJECT_MIN_SCORE,
    CONF_OBJECTS,
    CONF_POST_ROLL,
    CONF_PRE_ROLL,
    CONF_RTSP_TRANSPORT,
    CONF_SHARE_CONNECTION,
    CONF_STREAM_FORMATS,
    CONF_SUB_URL,
    DEFAULT_MOTION_DETECT_FPS,
    DEFAULT_OBJECT_MIN_SCORE,
    DEFAULT_POST_ROLL,
    DEFAULT_PRE_ROLL,
    DEFAULT_SHARE_CONNECTION,
    DEFAULT_TRANSPORT,
    DOMAIN,
    MAX_NAME_LENGTH,
    PROBE_TIMEOUT,
)
from .engine import (
    OBJECT_LABELS,
    TRANSPORTS,
    InvalidUrlError,
    InvalidZoneError,
    StreamError,
    StreamInfo,
    StreamSource,
    format_polygons,
    parse_polygons,
    probe,
    redact,
    split_credentials,
    stream_key,
)
from .objects import object_config
from .runtime import channel_subentries

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_TEXT = TextSelector()
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_POLYGONS = TextSelector(TextSelectorConfig(multiline=True))

CHANNEL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): _TEXT,
        vol.Required(CONF_MAIN_URL): _URL,
        vol.Optional(CONF_SUB_URL): _URL,
        vol.Optional(CONF_USERNAME): _TEXT,
        vol.Optional(CONF_PASSWORD): _PASSWORD,
        vol.Required(CONF_RTSP_TRANSPORT, default=DEFAULT_TRANSPORT): SelectSelector(
            SelectSelectorConfig(
                options=list(TRANSPORTS),
                mode=SelectSelectorMode.DROPDOWN,
                translation_key=CONF_RTSP_TRANSPORT,
            )
        ),
        vol.Required(CONF_PRE_ROLL, default=DEFAULT_PRE_ROLL): NumberSelector(
            NumberSelectorConfig(min=0, max=60, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX)
        ),
        vol.Required(CONF_POST_ROLL, default=DEFAULT_POST_ROLL): NumberSelector(
            NumberSelectorConfig(min=0, max=600, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX)
        ),
        vol.Optional(CONF_MOTION_ZONES): _POLYGONS,
        vol.Optional(CONF_MOTION_MASKS): _POLYGONS,
        vol.Required(CONF_MOTION_DETECT_FPS, default=DEFAULT_MOTION_DETECT_FPS): NumberSelector(
            NumberSelectorConfig(min=0.5, max=15, step=0.5, unit_of_measurement="fps", mode=NumberSelectorMode.BOX)
        ),
        vol.Required(CONF_MOTION_LOW_POWER, default=False): BooleanSelector(),
        vol.Optional(CONF_OBJECTS, default=[]): SelectSelector(
            SelectSelectorConfig(
                options=list(OBJECT_LABELS), multiple=True, mode=SelectSelectorMode.LIST, translation_key=CONF_OBJECTS
            )
        ),
        vol.Required(CONF_OBJECT_MIN_SCORE, default=DEFAULT_OBJECT_MIN_SCORE): NumberSelector(
            NumberSelectorConfig(min=20, max=95, step=5, unit_of_measurement="%", mode=NumberSelectorMode.SLIDER)
        ),
        vol.Required(CONF_SHARE_CONNECTION, default=DEFAULT_SHARE_CONNECTION): BooleanSelector(),
    }
)


def validate_polygons(value: Any) -> str:
    """Zones or masks from the form (text ``x,y x,y x,y; ...`` or JSON lists) as stored text.

    Raises ``InvalidZoneError``.
    """
    text = str(value or "").strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as err:
            raise InvalidZoneError("not_a_list", f"not valid JSON: {err}") from None
        return format_polygons(parse_polygons(parsed))
    return format_polygons(parse_polygons(text))


class ChannelSubentryFlow(ConfigSubentryFlow):
    """Add a camera stream to the NVR as a channel."""

    def __init__(self) -> None:
        """Start with nothing validated."""
        self._data: dict[str, Any] = {}
        self._found: dict[str, StreamInfo] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask for a new channel's streams."""
        return await self._async_ask("user", user_input, {})

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Change an existing channel's streams.

        The stored password is never sent back to the browser: the field
        starts empty, and left empty it keeps the stored password.
        """
        current = {k: v for k, v in self._get_reconfigure_subentry().data.items() if k != CONF_PASSWORD}
        return await self._async_ask("reconfigure", user_input, current)

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Show what was found, then save."""
        if user_input is None:
            sub = self._found.get(CONF_SUB_URL)
            return self.async_show_form(
                step_id="confirm",
                data_schema=vol.Schema({}),
                description_placeholders={
                    "name": self._data[CONF_NAME],
                    "main": self._found[CONF_MAIN_URL].describe(),
                    "sub": sub.describe() if sub else "—",
                },
            )
        title = self._data[CONF_NAME]
        unique_id = stream_key(self._data[CONF_MAIN_URL])
        if self.source == SOURCE_RECONFIGURE:
            subentry = self._get_reconfigure_subentry()
            # Keep what the form does not show (the recording mode set by its select).
            return self.async_update_and_abort(
                self._get_entry(),
                subentry,
                title=title,
                data={**subentry.data, **self._data},
                unique_id=unique_id,
            )
        return self.async_create_entry(title=title, data=self._data, unique_id=unique_id)

    async def _async_ask(
        self, step_id: str, user_input: dict[str, Any] | None, defaults: dict[str, Any]
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            errors, detail = await self._async_validate(user_input)
            if not errors:
                return await self.async_step_confirm()
            defaults = {k: v for k, v in user_input.items() if k != CONF_PASSWORD}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(CHANNEL_SCHEMA, defaults),
            errors=errors,
            description_placeholders={"error_detail": f"\n\n{detail}" if detail else ""},
        )

    async def _async_validate(self, user_input: dict[str, Any]) -> tuple[dict[str, str], str]:
        """Check the form and open the streams; return errors and a detail."""
        errors: dict[str, str] = {}
        name = str(user_input.get(CONF_NAME, "")).strip()
        username, password = self._login(user_input)
        transport = user_input.get(CONF_RTSP_TRANSPORT, DEFAULT_TRANSPORT)
        if not name:
            errors[CONF_NAME] = "name_required"
        elif len(name) > MAX_NAME_LENGTH:
            errors[CONF_NAME] = "name_too_long"
        urls: dict[str, str] = {}
        keys: dict[str, str] = {}
        in_use = self._keys_in_use()
        for field in (CONF_MAIN_URL, CONF_SUB_URL):
            raw = str(user_input.get(field) or "").strip()
            if not raw:
                if field == CONF_MAIN_URL:
                    errors[field] = "invalid_url"
                continue
            try:
                key = stream_key(raw)
            except InvalidUrlError:
                errors[field] = "invalid_url"
                continue
            clean, url_user, url_password = split_credentials(raw)
            if url_user and not username:  # credentials pasted into the URL
                username, password = url_user, url_password
            urls[field] = clean
            keys[field] = key
            if key in in_use:
                errors[field] = "already_configured"
        if CONF_SUB_URL in keys and keys[CONF_SUB_URL] == keys.get(CONF_MAIN_URL):
            errors[CONF_SUB_URL] = "same_as_main"
        polygons, problems = _check_polygons(user_input, errors)
        if errors:
            return errors, "; ".join(problems)

        sources = {f: StreamSource(u, username, password, transport) for f, u in urls.items()}
        results = await asyncio.gather(*(self.hass.async_add_executor_job(_probe_quietly, s) for s in sources.values()))
        details = []
        self._found = {}
        for field, result in zip(sources, results, strict=True):
            if isinstance(result, StreamError):
                errors[field] = result.reason.value
                if result.detail:
                    details.append(redact(result.detail))
            else:
                self._found[field] = result
        if errors:
            return errors, "; ".join(details)
        device = self._device()
        if device is not None and (username, password) == (
            device.data.get(CONF_USERNAME, ""),
            device.data.get(CONF_PASSWORD, ""),
        ):
            username = password = ""  # stored once, on the device
        self._data = {
            CONF_NAME: name,
            CONF_MAIN_URL: urls[CONF_MAIN_URL],
            CONF_SUB_URL: urls.get(CONF_SUB_URL, ""),
            CONF_USERNAME: username,
            CONF_PASSWORD: password,
            CONF_RTSP_TRANSPORT: transport,
            CONF_PRE_ROLL: int(user_input.get(CONF_PRE_ROLL, DEFAULT_PRE_ROLL)),
            CONF_POST_ROLL: int(user_input.get(CONF_POST_ROLL, DEFAULT_POST_ROLL)),
            CONF_MOTION_ZONES: polygons[CONF_MOTION_ZONES],
            CONF_MOTION_MASKS: polygons[CONF_MOTION_MASKS],
            CONF_MOTION_DETECT_FPS: float(user_input.get(CONF_MOTION_DETECT_FPS, DEFAULT_MOTION_DETECT_FPS)),
            CONF_MOTION_LOW_POWER: bool(user_input.get(CONF_MOTION_LOW_POWER, False)),
            CONF_OBJECTS: list(object_config(user_input).labels),
            CONF_OBJECT_MIN_SCORE: round(object_config(user_input).min_score * 100),
            CONF_SHARE_CONNECTION: bool(user_input.get(CONF_SHARE_CONNECTION, DEFAULT_SHARE_CONNECTION)),
            CONF_STREAM_FORMATS: {
                role: [info.codec, info.width, info.height]
                for role, field in (("main", CONF_MAIN_URL), ("sub", CONF_SUB_URL))
                if (info := self._found.get(field)) is not None
            },
        }
        return {}, ""

    def _login(self, user_input: dict[str, Any]) -> tuple[str, str]:
        """The login the streams are checked with: the form's, the stored password, or the device's."""
        username = str(user_input.get(CONF_USERNAME) or "").strip()
        password = str(user_input.get(CONF_PASSWORD) or "")
        device = self._device()
        if device is not None and not username:  # a connected device's channel: its login is the device's
            return device.data.get(CONF_USERNAME, ""), device.data.get(CONF_PASSWORD, "")
        if not password and self.source == SOURCE_RECONFIGURE:
            password = self._get_reconfigure_subentry().data.get(CONF_PASSWORD) or ""
        return username, password

    def _device(self) -> ConfigSubentry | None:
        """The connected device of the channel being reconfigured, if it has one."""
        if self.source != SOURCE_RECONFIGURE:
            return None
        device_id = self._get_reconfigure_subentry().data.get(CONF_DEVICE)
        return self._get_entry().subentries.get(device_id) if device_id else None

    def _keys_in_use(self) -> set[str]:
        """Stream keys of every other channel of every NVR."""
        skip = self._get_reconfigure_subentry().subentry_id if self.source == SOURCE_RECONFIGURE else None
        keys: set[str] = set()
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            for subentry in channel_subentries(entry):
                if subentry.subentry_id == skip:
                    continue
                for field in (CONF_MAIN_URL, CONF_SUB_URL):
                    if url := subentry.data.get(field):
                        try:
                            keys.add(stream_key(url))
                        except InvalidUrlError:
                            continue
        return keys


def _check_polygons(user_input: dict[str, Any], errors: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Zones and masks as stored text; adds a translated error per bad field and returns the details."""
    polygons: dict[str, str] = {}
    problems: list[str] = []
    for field in (CONF_MOTION_ZONES, CONF_MOTION_MASKS):
        try:
            polygons[field] = validate_polygons(user_input.get(field))
        except InvalidZoneError as err:
            errors[field] = f"polygon_{err.reason}"
            problems.append(f"{'Zones' if field == CONF_MOTION_ZONES else 'Masks'}: {err}")
    return polygons, problems


def _probe_quietly(source: StreamSource) -> StreamInfo | StreamError:
    """Probe, returning the error instead of raising (for gather)."""
    try:
        return probe(source, PROBE_TIMEOUT)
    except StreamError as err:
        return err
