"""HA's reports about how nvr uses its API fail the test that caused them (tests/ha/conftest.py)."""

from __future__ import annotations

import logging

import pytest
from homeassistant import loader
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from support import ha_report_about_us

from custom_components.nvr.const import DOMAIN


@pytest.mark.ha_reports_expected
async def test_ha_report_of_a_deprecated_call_is_caught(hass: HomeAssistant, ha_reports: list[str]) -> None:
    """HA's own report helper, as HA's deprecations call it for a custom integration, is caught."""
    await loader.async_get_integration(hass, DOMAIN)
    frame.report_usage(
        "calls an API that the checker of this test made up",
        breaks_in_ha_version="2099.1",
        integration_domain=DOMAIN,
    )
    assert len(ha_reports) == 1, ha_reports
    assert "calls an API that the checker of this test made up" in ha_reports[0]


async def test_other_warnings_are_not_reports(hass: HomeAssistant, ha_reports: list[str]) -> None:
    """Our own warnings and HA's reports about other integrations pass."""
    logging.getLogger("custom_components.nvr.camera").warning("Stream %s lost: %s", "Door", "timeout")
    logging.getLogger("homeassistant.helpers.frame").warning(
        "Detected that custom integration 'other' calls a deprecated API. Please report it to the author"
    )
    assert ha_reports == []
    assert not ha_report_about_us("Recording of Door paused: the disk is full")
    assert ha_report_about_us(
        "The deprecated constant X was used from nvr. It will be removed in HA Core 2099.1. Use Y instead"
    )
    assert ha_report_about_us(
        "'device_state_attributes' is deprecated. Please rename 'device_state_attributes' to "
        "'extra_state_attributes' in '/config/custom_components/nvr/sensor.py' to ensure future support."
    )
