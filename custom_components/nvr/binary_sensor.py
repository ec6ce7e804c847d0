"""The "Video signal", "Recording", "Motion", "Person" and "Vehicle" sensors of each channel.

A connected device also has its "Camera events" sensor.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import device_state_signal, object_signal
from .device_runtime import DeviceRuntime, device_identifier
from .engine import MAIN, ObjectUpdate
from .entity import NvrChannelEntity, NvrMotionEntity, NvrRecordingEntity, async_setup_channel_entities
from .objects import DATA_OBJECTS, OBJECTS_FAILED_SIGNAL, object_config
from .runtime import ChannelRuntime, NvrConfigEntry, motion_config

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the video-signal, recording and motion sensors of every channel."""

    def _entities(entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> list:
        return [
            VideoSignalSensor(entry, subentry, runtime),
            RecordingSensor(entry, subentry, runtime),
            MotionSensor(entry, subentry, runtime),
            ObjectSensor(entry, subentry, runtime, "person"),
            ObjectSensor(entry, subentry, runtime, "vehicle"),
        ]

    await async_setup_channel_entities(entry, async_add_entities, _entities)

    @callback
    def _add_device_sensor(entry: NvrConfigEntry, device: DeviceRuntime) -> None:
        sensor = DeviceEventsSensor(entry, device)
        device.entities.append(sensor)
        async_add_entities([sensor], config_subentry_id=device.subentry_id)

    entry.runtime_data.device_entity_adder = _add_device_sensor
    for device in list(entry.runtime_data.devices.values()):
        _add_device_sensor(entry, device)


class DeviceEventsSensor(BinarySensorEntity):
    """On while a connected device's event connection (alertStream, PullPoint) is up."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_translation_key = "device_events"

    def __init__(self, entry: NvrConfigEntry, device: DeviceRuntime) -> None:
        """Follow one device."""
        self._entry_id = entry.entry_id
        self._device = device
        self._attr_unique_id = f"{device.subentry_id}_events"
        self._attr_device_info = DeviceInfo(identifiers={device_identifier(entry.entry_id, device.subentry_id)})

    @property
    def is_on(self) -> bool:
        """Whether the device's events come in."""
        return self._device.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The protocol, and why the connection is down when it is."""
        attrs: dict[str, Any] = {"protocol": self._device.protocol}
        if not self._device.connected and self._device.reason:
            attrs["failure"] = self._device.reason
        return attrs

    async def async_added_to_hass(self) -> None:
        """Follow the connection's state."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                device_state_signal(self._entry_id, self._device.subentry_id),
                self.async_write_ha_state,
            )
        )


class VideoSignalSensor(NvrChannelEntity, BinarySensorEntity):
    """On while the channel's main stream delivers video."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_translation_key = "video_signal"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the sensor for the main stream."""
        super().__init__(entry, subentry, runtime, MAIN)
        self._attr_unique_id = f"{subentry.subentry_id}_video_signal"

    @property
    def is_on(self) -> bool:
        """Whether video arrives."""
        return self.stream_status.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """What the stream carries, and why it is down when it is."""
        status = self.stream_status
        attrs: dict[str, Any] = {}
        if status.info is not None:
            attrs["codec"] = status.info.codec
            attrs["resolution"] = f"{status.info.width}x{status.info.height}"
            attrs["fps"] = status.info.fps
        if status.failure is not None:
            attrs["failure"] = status.failure.value
        return attrs


class RecordingSensor(NvrRecordingEntity, BinarySensorEntity):
    """On while the channel's main stream is written to a file."""

    _attr_translation_key = "recording"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the recording sensor of one channel."""
        super().__init__(entry, subentry, runtime)
        self._attr_unique_id = f"{subentry.subentry_id}_recording"

    @property
    def available(self) -> bool:
        """Unavailable while the storage folder cannot be used."""
        return self._recorder is not None

    @property
    def is_on(self) -> bool:
        """Whether a file is being written."""
        status = self.recorder_status
        return status is not None and status.recording

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The mode in force, whether a manual recording runs, and why recording is paused."""
        status = self.recorder_status
        if status is None:
            return {}
        attrs: dict[str, Any] = {"mode": status.mode.value, "manual": status.manual}
        if status.fault is not None:
            attrs["fault"] = status.fault.value
        return attrs


class MotionSensor(NvrMotionEntity, BinarySensorEntity):
    """On from the first moving frame until the off delay has passed without motion."""

    _attr_device_class = BinarySensorDeviceClass.MOTION
    _attr_translation_key = "motion"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the motion sensor of one channel."""
        super().__init__(entry, subentry, runtime)
        self._attr_unique_id = f"{subentry.subentry_id}_motion"
        self._worker = runtime.motion

    async def async_added_to_hass(self) -> None:
        """Follow events, settings, and whether an overloaded host makes detection shed frames."""
        await super().async_added_to_hass()
        worker = self._worker
        if worker is None:
            return
        hass = self.hass

        def _overload(_overloaded: bool) -> None:  # the worker's thread
            hass.loop.call_soon_threadsafe(self._async_overload_changed)

        worker.on_overload = _overload

        @callback
        def _forget() -> None:
            if worker.on_overload is _overload:
                worker.on_overload = None

        self.async_on_remove(_forget)

    @callback
    def _async_overload_changed(self) -> None:
        if self.hass is not None and self.platform is not None:
            self.async_write_ha_state()

    @property
    def is_on(self) -> bool:
        """Whether a motion event is going on."""
        return self.motion_state.motion

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Whether detection is on, and the latest event's id and peak score."""
        attrs: dict[str, Any] = {"detection": motion_config(self.channel_data).enabled}
        attrs["overloaded"] = self._worker is not None and self._worker.overloaded
        update = self.motion_state.update
        if update is not None:
            attrs["event_id"] = update.event_id
            attrs["score"] = round(update.score, 2)
        return attrs


class ObjectSensor(NvrMotionEntity, BinarySensorEntity):
    """On while a person (or a vehicle) is seen on the channel, and for a few seconds after."""

    _attr_device_class = BinarySensorDeviceClass.OCCUPANCY

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime, label: str) -> None:
        """Create the sensor of one label of one channel."""
        super().__init__(entry, subentry, runtime)
        self._label = label
        self._state = runtime.object_state
        self._attr_translation_key = label
        self._attr_unique_id = f"{subentry.subentry_id}_{label}"

    @property
    def is_on(self) -> bool:
        """Whether the label is seen now."""
        return self._label in self._state.present

    @property
    def available(self) -> bool:
        """Unavailable when the object detection model could not be loaded (a repair issue says why)."""
        worker = self.hass.data.get(DATA_OBJECTS) if self.hass is not None else None
        return worker is None or worker.failed is None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Whether the label is detected at all, and the current sighting's score and box."""
        config = object_config(self.channel_data)
        attrs: dict[str, Any] = {"detecting": self._label in config.labels, "min_score": round(config.min_score, 2)}
        if (update := self._state.present.get(self._label)) is not None:
            attrs |= {"score": round(update.score, 2), "box": [round(v, 4) for v in update.box]}
        return attrs

    async def async_added_to_hass(self) -> None:
        """Follow the channel's object events and settings."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, object_signal(self._entry_id, self._subentry_id), self._async_update)
        )
        self.async_on_remove(async_dispatcher_connect(self.hass, OBJECTS_FAILED_SIGNAL, self.async_write_ha_state))

    @callback
    def _async_update(self, update: ObjectUpdate | None) -> None:
        if update is None or update.label == self._label:
            self.async_write_ha_state()
