"""Smart search in Home Assistant: ``nvr/search`` for a read-only user, the match pictures, bad input.

Footage recorded from the gst-rtsp-server feed (2 s files) is copied to two
days ago; the activity index of those seconds is written as the motion
worker writes it (the engine's store), with motion on the left of the
picture only, and a span that was never analysed.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from PIL import Image

from custom_components.nvr.const import DOMAIN
from custom_components.nvr.engine import ActivityStore
from custom_components.nvr.engine.recording.layout import segment_relpath
from custom_components.nvr.engine.search.grid import moved_words

from .playback_support import CHANNEL, copy_footage, record_footage, setup_playback_entry

STRINGS = json.loads((Path(__file__).parents[2] / "custom_components/nvr/strings.json").read_text())
LEFT = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]]
RIGHT = [[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]]
FILES = 8


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_footage(recording_server.url("/av"), tmp_path_factory.mktemp("search_footage") / "nvr")


@pytest.fixture
async def entry(hass: HomeAssistant, footage: Path, tmp_path: Path, recording_server):
    storage = copy_footage(footage, tmp_path / "nvr")
    return await setup_playback_entry(hass, storage, recording_server.url("/h264"))


def _lay_out_footage(entry, start: float, files: int = FILES, complete: bool = True) -> float:
    """Copies of a recorded file end to end from ``start`` (as if recorded then); returns the end.

    Not ``complete``: as a file being written, whose end the index does not know yet.
    """
    archive = entry.runtime_data.archive
    template = next(s for s in archive.index.segments(CHANNEL) if s.complete and s.end > s.start)
    at = start
    for _ in range(files):
        relpath = segment_relpath(CHANNEL, at)
        (archive.root / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(archive.root / template.path, archive.root / relpath)
        size = (archive.root / relpath).stat().st_size
        end = at + template.duration if complete else at
        archive.index.add_segment(CHANNEL, at, relpath, end, size, complete=complete)
        at += template.duration
    return at


def _write_activity(root: Path, start: int, analysed_until: int) -> None:
    """Motion on the left from start+3 to start+5; the seconds from ``start`` to ``analysed_until`` analysed."""
    left = np.zeros((90, 160), dtype=bool)
    left[20:60, 10:50] = True
    store = ActivityStore(root, flush=3600)  # a store of its own: these days are not the live worker's
    activity = store.channel(CHANNEL)
    for second in range(start, analysed_until):
        moving = start + 3 <= second <= start + 5
        for tenth in range(0, 10, 2):
            activity.picture(second + tenth / 10, moved_words(left) if moving else None)
    store.close()


async def _ws(client, **msg):
    await client.send_json_auto_id(msg)
    return await client.receive_json()


async def test_a_read_only_user_finds_the_motion_in_a_region(
    hass: HomeAssistant, entry, hass_ws_client, hass_read_only_access_token, hass_client_no_auth
) -> None:
    start = int(time.time()) - 2 * 86400
    end = await hass.async_add_executor_job(_lay_out_footage, entry, start)
    analysed_until = start + 10
    await hass.async_add_executor_job(_write_activity, entry.runtime_data.archive.root, start, analysed_until)
    client = await hass_ws_client(hass, hass_read_only_access_token)  # no admin rights needed
    span = {"entry_id": entry.entry_id, "channel": CHANNEL, "start": start - 60, "end": end + 60}
    answer = await _ws(client, type="nvr/search", region=LEFT, **span)
    assert answer["success"], answer
    result = answer["result"]
    assert [(m["start"], m["end"]) for m in result["matches"]] == [(start + 1, start + 8)]
    match = result["matches"][0]
    assert start + 3 <= match["peak"] <= start + 5 and match["cells"] > 0 and match["labels"] == []
    assert result["moving_seconds"] == 3 and not result["truncated"]
    # The footage after the analysed seconds is not indexed (the file there began before them).
    ((gap_start, gap_end),) = result["not_indexed"]
    assert analysed_until <= gap_start <= analysed_until + 1 and gap_end == pytest.approx(end, abs=0.01)
    # The match's picture: a signed URL, no token needed; a JPEG of the recording, thumbnail sized.
    assert "authSig=" in match["thumbnail"]
    response = await (await hass_client_no_auth()).get(match["thumbnail"])
    assert response.status == 200 and response.headers["Content-Type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(await response.read()))
    assert picture.format == "JPEG" and 0 < picture.width <= 320
    # Motion elsewhere is not motion here; nor is a minimum size larger than what moved, nor a person.
    for extra in ({"region": RIGHT}, {"region": LEFT, "min_size": 20}, {"region": LEFT, "labels": ["person"]}):
        answer = await _ws(client, type="nvr/search", **span, **extra)
        assert answer["success"] and answer["result"]["matches"] == [], extra


async def test_match_pictures_need_a_login_and_footage(
    hass: HomeAssistant, entry, hass_client, hass_client_no_auth
) -> None:
    start = int(time.time()) - 2 * 86400
    await hass.async_add_executor_job(_lay_out_footage, entry, start)
    url = f"/api/nvr/{entry.entry_id}/{CHANNEL}/frame/{(start + 3) * 1000}.jpg"
    assert (await (await hass_client_no_auth()).get(url)).status == 401
    client = await hass_client()
    assert (await client.get(url)).status == 200
    nothing = f"/api/nvr/{entry.entry_id}/{CHANNEL}/frame/{(start - 3600) * 1000}.jpg"
    assert (await client.get(nothing)).status == 404
    # The file being written: the index's end trails its fragments; its pictures are there all the same.
    later = start + 600
    await hass.async_add_executor_job(_lay_out_footage, entry, later, 1, False)
    assert (await client.get(f"/api/nvr/{entry.entry_id}/{CHANNEL}/frame/{(later + 1) * 1000}.jpg")).status == 200
    for bad in (f"/api/nvr/{entry.entry_id}/..%2F..%2Fetc/frame/1000.jpg", f"/api/nvr/nope/{CHANNEL}/frame/1000.jpg"):
        assert (await client.get(bad)).status in (400, 404)  # HA's filter refuses the first itself


async def test_bad_input_gets_a_translated_error(hass: HomeAssistant, entry, hass_ws_client) -> None:
    client = await hass_ws_client(hass)
    ok = {"entry_id": entry.entry_id, "channel": CHANNEL, "start": 1000, "end": 2000, "region": LEFT}
    cases = [
        ({**ok, "entry_id": "nope"}, "not_found", "nvr_not_found"),
        ({**ok, "channel": "nope"}, "not_found", "channel_not_found"),
        ({**ok, "channel": "x" * 5000}, "not_found", "channel_not_found"),
        ({**ok, "channel": 7}, "not_found", "channel_not_found"),
        ({**ok, "entry_id": ["a"]}, "not_found", "nvr_not_found"),
        ({**ok, "start": 3000}, "invalid_format", "invalid_span"),
        ({**ok, "end": 1000 + 8 * 86400}, "invalid_format", "invalid_span"),
        ({**ok, "start": "yesterday"}, "invalid_format", "invalid_span"),
        ({**ok, "region": []}, "invalid_format", "invalid_region"),
        ({**ok, "region": [[[0, 0], [1, 1]]]}, "invalid_format", "invalid_region"),
        ({**ok, "region": [[[0, 0], [1, 0], [2, 1]]]}, "invalid_format", "invalid_region"),
        ({**ok, "region": [[[0, 0], [1, 0], ["a", 1]]]}, "invalid_format", "invalid_region"),
        ({**ok, "region": [LEFT[0]] * 17}, "invalid_format", "invalid_region"),
        ({**ok, "region": "left"}, "invalid_format", "invalid_region"),
        ({**ok, "labels": ["dragon"]}, "invalid_format", "invalid_labels"),
        ({**ok, "labels": "person"}, "invalid_format", "invalid_labels"),
        ({**ok, "min_size": 101}, "invalid_format", "invalid_min_size"),
        ({**ok, "min_size": True}, "invalid_format", "invalid_min_size"),
    ]
    for payload, code, key in cases:
        answer = await _ws(client, type="nvr/search", **payload)
        assert not answer["success"], payload
        assert answer["error"]["code"] == code, answer
        assert answer["error"]["translation_key"] == key and answer["error"]["translation_domain"] == DOMAIN
        english = STRINGS["exceptions"][key]["message"]
        assert answer["error"]["message"] == english.format(**(answer["error"].get("translation_placeholders") or {}))
    # The index unreadable (a disk gone): said, translated, and logged; no traceback.
    index = entry.runtime_data.archive.index
    with patch.object(index, "segment_times", side_effect=OSError(5, "Input/output error")):
        answer = await _ws(client, type="nvr/search", **ok)
    assert answer["error"]["code"] == "unknown_error" and answer["error"]["translation_key"] == "search_failed"
    assert "Input/output error" in answer["error"]["message"]
    # A channel never analysed: no matches, and its footage is not indexed; nothing fails.
    answer = await _ws(client, type="nvr/search", **{**ok, "start": 0, "end": 86400})
    assert answer["success"] and answer["result"]["matches"] == []
