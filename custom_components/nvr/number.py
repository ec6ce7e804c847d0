"""Motion tuning numbers of each channel: sensitivity, minimum area and off delay.

The values live in the channel's subentry (so they survive restarts) and the
entry's update listener hands them to the running detector: no reload.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.number import NumberEntity, NumberEntityDescription, NumberMode
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    CONF_MOTION_MIN_AREA,
    CONF_MOTION_OFF_DELAY,
    CONF_MOTION_SENSITIVITY,
    DEFAULT_MOTION_MIN_AREA,
    DEFAULT_MOTION_OFF_DELAY,
    DEFAULT_MOTION_SENSITIVITY,
)
from .entity import NvrMotionEntity, async_setup_channel_entities, async_update_channel_data
from .runtime import ChannelRuntime, NvrConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class MotionNumberDescription(NumberEntityDescription):
    """A motion setting kept in the channel's subentry data."""

    default: float
    integer: bool = False


NUMBERS = (
    MotionNumberDescription(
        key=CONF_MOTION_SENSITIVITY,
        translation_key="motion_sensitivity",
        native_min_value=1,
        native_max_value=100,
        native_step=1,
        mode=NumberMode.SLIDER,
        default=DEFAULT_MOTION_SENSITIVITY,
        integer=True,
    ),
    MotionNumberDescription(
        key=CONF_MOTION_MIN_AREA,
        translation_key="motion_min_area",
        native_min_value=0.1,
        native_max_value=50,
        native_step=0.1,
        native_unit_of_measurement=PERCENTAGE,
        mode=NumberMode.BOX,
        default=DEFAULT_MOTION_MIN_AREA,
    ),
    MotionNumberDescription(
        key=CONF_MOTION_OFF_DELAY,
        translation_key="motion_off_delay",
        native_min_value=0,
        native_max_value=600,
        native_step=1,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        mode=NumberMode.BOX,
        default=DEFAULT_MOTION_OFF_DELAY,
        integer=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the motion numbers of every channel."""
    await async_setup_channel_entities(
        entry,
        async_add_entities,
        lambda entry, subentry, runtime: [MotionNumber(entry, subentry, runtime, d) for d in NUMBERS],
    )


class MotionNumber(NvrMotionEntity, NumberEntity):
    """One motion setting of a channel, applied to its detector at once."""

    _attr_entity_category = EntityCategory.CONFIG
    entity_description: MotionNumberDescription

    def __init__(
        self,
        entry: NvrConfigEntry,
        subentry: ConfigSubentry,
        runtime: ChannelRuntime,
        description: MotionNumberDescription,
    ) -> None:
        """Create the number of one channel."""
        super().__init__(entry, subentry, runtime)
        self.entity_description = description
        self._attr_unique_id = f"{subentry.subentry_id}_{description.key}"

    @property
    def native_value(self) -> float:
        """The stored value (the default when unset)."""
        value = self.channel_data.get(self.entity_description.key, self.entity_description.default)
        return int(value) if self.entity_description.integer else float(value)

    async def async_set_native_value(self, value: float) -> None:
        """Store the value; the detector follows without a reload."""
        stored = round(value) if self.entity_description.integer else round(float(value), 2)
        async_update_channel_data(self.hass, self._entry, self._subentry_id, {self.entity_description.key: stored})
        self.async_write_ha_state()
