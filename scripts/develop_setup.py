"""Configure the Home Assistant of scripts/develop over its HTTP and WebSocket APIs.

``config CONFIG_DIR [PORT]``
    Write CONFIG_DIR/configuration.yaml (HTTP on 127.0.0.1:PORT, 8123 by
    default) and mark onboarding's location step done, unless they exist.

``requirements CONFIG_DIR``
    Print the pip requirements of the integrations that configuration.yaml
    (plus HA's always-loaded defaults) sets up and that are not installed, one
    per line, so scripts/develop can install them before HA would at start.
    Without a configuration.yaml, the one ``config`` would write is used.

``setup DEMO_CHANNELS_JSON``
    With HA running on 127.0.0.1:8123: onboard it (user dev / password dev)
    the first time, keep a long-lived token in .develop/ha-token, create the
    NVR and its channels through the real config and subentry flows (only if
    there is no NVR yet, or it has no channel), save the Lovelace dashboard
    built from the NVR wall card (only if there is none, or it is the grid an
    earlier version saved) and wait until the cameras are up.

The browser tests (tests/browser) use the same functions against a hass of
their own (``Api(base=..., token_file=None)``, ``write_config(dir, port)``).

Runs with the project's .venv (aiohttp, PyYAML and homeassistant come with it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://127.0.0.1:8123"
USER = {"name": "Developer", "username": "dev", "password": "dev", "language": "en"}
TOKEN_FILE = ROOT / ".develop" / "ha-token"
NVR_NAME = "Demo NVR"
DASHBOARD_TITLE = "NVR"
# A channel flow is retried this long while its camera is off (the flaky one).
CHANNEL_RETRY_SECONDS = 60


def log(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


class SetupError(Exception):
    """Setup cannot go on."""


# --------------------------------------------------------------------------
# requirements
# --------------------------------------------------------------------------


CONFIGURATION_YAML = """\
# Written by scripts/develop when missing; edit it freely, or delete config/
# to start over. Minimal on purpose (no default_config): just what the nvr
# integration and its dashboard need. HA also sets up its built-in defaults.
homeassistant:
  name: NVR dev
  # Keeps media (the NVR's default storage folder) inside config/; in a
  # container HA would otherwise pick /media.
  media_dirs:
    local: {media}

http:
  server_host: 127.0.0.1
  server_port: {port}

frontend:
config:
lovelace:
logger:
  default: warning
  logs:
    custom_components.nvr: debug
stream:
camera:
media_source:
history:
"""
ONBOARDING = {"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": ["core_config"]}}
"""Onboarding is finished over HA's API by ``setup``, except its location step
(core_config), marked done here: finishing it would set up Google Translate,
Radio Browser, Shopping list and Met.no, which pip-install packages at run
time and try to reach the internet."""


def write_config(config_dir: Path, port: int = 8123) -> None:
    """configuration.yaml and the onboarding state, where missing."""
    (config_dir / "media").mkdir(parents=True, exist_ok=True)
    yaml_path = config_dir / "configuration.yaml"
    if not yaml_path.exists():
        log(f"Writing {yaml_path}")
        yaml_path.write_text(CONFIGURATION_YAML.format(media=config_dir / "media", port=port), encoding="utf-8")
    onboarding = config_dir / ".storage" / "onboarding"
    if not onboarding.exists():
        onboarding.parent.mkdir(parents=True, exist_ok=True)
        onboarding.write_text(json.dumps(ONBOARDING), encoding="utf-8")


def missing_requirements(config_dir: Path) -> list[str]:
    from homeassistant import bootstrap
    from homeassistant.auth.mfa_modules import totp
    from homeassistant.util.package import is_installed

    components = Path(bootstrap.__file__).parent / "components"
    yaml_path = config_dir / "configuration.yaml"
    text = yaml_path.read_text(encoding="utf-8") if yaml_path.exists() else CONFIGURATION_YAML
    config = yaml.safe_load(text) or {}
    todo = {key.split(" ")[0] for key in config if key != "homeassistant"} | set(bootstrap.DEFAULT_INTEGRATIONS)
    seen: set[str] = set()
    requirements: list[str] = list(totp.REQUIREMENTS)  # HA's default MFA module, loaded at start
    while todo:
        domain = todo.pop()
        manifest_path = components / domain / "manifest.json"
        if domain in seen or not manifest_path.exists():
            continue  # custom integrations bring their own requirements
        seen.add(domain)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        todo.update(manifest.get("dependencies", []))
        requirements += [r for r in manifest.get("requirements", []) if r not in requirements]
    return [r for r in requirements if not is_installed(r)]


# --------------------------------------------------------------------------
# HTTP and WebSocket helpers
# --------------------------------------------------------------------------


class Api:
    """REST and WebSocket calls with a bearer token."""

    def __init__(self, session: aiohttp.ClientSession, base: str = BASE, token_file: Path | None = TOKEN_FILE) -> None:
        self.session = session
        self.base = base
        self.client_id = f"{base}/"
        self.token_file = token_file
        """Where the long-lived token is kept between runs (None: not kept)."""
        self.token = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, payload: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        async with self.session.request(method, self.base + path, json=payload, headers=self._headers()) as resp:
            text = await resp.text()
            if resp.status not in ok:
                raise SetupError(f"{method} {path} answered {resp.status}: {text[:500]}")
            return json.loads(text) if text and resp.content_type == "application/json" else text

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, payload: Any = None) -> Any:
        return await self.request("POST", path, payload if payload is not None else {})

    async def token_from_code(self, code: str) -> str:
        data = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        async with self.session.post(f"{self.base}/auth/token", data=data) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise SetupError(f"/auth/token answered {resp.status}: {body}")
            return body["access_token"]

    async def ws(self, msg_type: str, **payload: Any) -> Any:
        """Send one WebSocket command and return its result."""
        if self._ws is None or self._ws.closed:
            self._ws = await self.session.ws_connect(f"{self.base.replace('http', 'ws', 1)}/api/websocket")
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            answer = await self._ws.receive_json()
            if answer.get("type") != "auth_ok":
                raise SetupError(f"WebSocket auth failed: {answer}")
        self._id += 1
        await self._ws.send_json({"id": self._id, "type": msg_type, **payload})
        while True:
            msg = await self._ws.receive_json(timeout=60)
            if msg.get("id") == self._id and msg.get("type") == "result":
                if not msg["success"]:
                    raise WsError(msg["error"].get("code", ""), msg["error"].get("message", ""))
                return msg["result"]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


class WsError(SetupError):
    """A WebSocket command failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


async def wait_http(api: Api, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await api.request("GET", "/auth/providers", ok=(200, 400))  # no login needed (400: not onboarded)
            return
        except (aiohttp.ClientError, SetupError, TimeoutError):
            if not hass_alive():
                raise SetupError("Home Assistant exited while starting (see .develop/hass.console.log)") from None
            if time.monotonic() > deadline:
                raise SetupError(f"Home Assistant did not answer on {api.base} within {seconds:.0f} s") from None
            await asyncio.sleep(0.5)


def hass_alive() -> bool:
    """False once the hass process that scripts/develop started (HASS_PID) is gone."""
    try:
        stat = Path(f"/proc/{int(os.environ['HASS_PID'])}/stat").read_text(encoding="utf-8")
    except (KeyError, ValueError, OSError):
        return "HASS_PID" not in os.environ
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


async def wait_running(api: Api, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (await api.get("/api/config")).get("state") != "RUNNING":
        if time.monotonic() > deadline:
            raise SetupError("Home Assistant did not finish starting")
        await asyncio.sleep(0.5)


# --------------------------------------------------------------------------
# onboarding and token
# --------------------------------------------------------------------------


async def onboarding_steps(api: Api) -> dict[str, bool]:
    """Onboarding steps and whether they are done; empty once HA is onboarded."""
    answer = await api.request("GET", "/api/onboarding", ok=(200, 404))  # 404: onboarding is over
    return {s["step"]: s["done"] for s in answer} if isinstance(answer, list) else {}


async def onboard_or_login(api: Api) -> None:
    """Get an access token: onboarding, the cached long-lived one, or login."""
    steps = await onboarding_steps(api)
    if api.token_file is not None and api.token_file.exists() and steps.get("user", True):
        api.token = api.token_file.read_text(encoding="utf-8").strip()
        try:
            await api.get("/api/")
        except SetupError:
            log("The token in .develop/ha-token is not accepted (was config/ reset?): getting a new one")
            api.token = ""
        else:
            await finish_onboarding(api)
            return
    if not steps.get("user", True):
        log("Onboarding: creating user dev (password dev)")
        answer = await api.post("/api/onboarding/users", {"client_id": api.client_id, **USER})
        api.token = await api.token_from_code(answer["auth_code"])
    else:
        api.token = await login(api)
    await finish_onboarding(api)
    name = f"scripts/develop {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    token = await api.ws("auth/long_lived_access_token", client_name=name, lifespan=3650)
    if api.token_file is not None:
        api.token_file.parent.mkdir(parents=True, exist_ok=True)
        api.token_file.write_text(token + "\n", encoding="utf-8")
        api.token_file.chmod(0o600)
    api.token = token
    if api._ws is not None:  # reconnect with the long-lived token
        await api.close()


async def login(api: Api) -> str:
    """Log in as dev/dev through the login flow the UI uses."""
    flow = await api.post(
        "/auth/login_flow",
        {"client_id": api.client_id, "handler": ["homeassistant", None], "redirect_uri": api.client_id},
    )
    answer = await api.post(
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": api.client_id, "username": USER["username"], "password": USER["password"]},
    )
    if answer.get("type") != "create_entry":
        raise SetupError(
            f"Cannot log in as {USER['username']}/{USER['password']} ({answer.get('errors')}). "
            "Put a long-lived token of an admin user in .develop/ha-token, or remove config/ to start over."
        )
    return await api.token_from_code(answer["result"])


async def finish_onboarding(api: Api) -> None:
    steps = await onboarding_steps(api)
    if not steps.get("core_config", True):
        await api.post("/api/onboarding/core_config")
    if not steps.get("analytics", True):
        await api.post("/api/onboarding/analytics")
    if not steps.get("integration", True):
        redirect = f"{api.base}/?auth_callback=1"
        await api.post("/api/onboarding/integration", {"client_id": api.client_id, "redirect_uri": redirect})
    if not all(steps.values()):
        log("Onboarding finished")
    if (await api.get("/api/config")).get("country") is None:
        # What the onboarding's location step would save; without it HA
        # raises a "country not configured" repair.
        await api.ws("config/core/update", country="US")
    await confirm_http_config(api)


async def confirm_http_config(api: Api) -> None:
    """Keep configuration.yaml's http settings (127.0.0.1 and our port).

    HA 2026 moves them into its storage as a trial that it reverts, restarting
    itself on its default (all interfaces, port 8123), unless they are
    confirmed within 5 minutes: the browser tests' hass went away mid-run.
    HA 2025.4 has no such command.
    """
    try:
        await api.ws("http/config/promote")
    except WsError as err:
        if err.code not in ("unknown_command", "not_allowed"):  # HA 2025.4; nothing left to confirm
            raise


# --------------------------------------------------------------------------
# NVR, channels, dashboard
# --------------------------------------------------------------------------


async def ensure_nvr(api: Api, discover_devices: bool = True) -> str:
    """Return the entry_id of the NVR, creating it with the config flow.

    ``discover_devices`` off: no WS-Discovery probe goes out (the browser tests).
    """
    entries = await api.get("/api/config/config_entries/entry?domain=nvr")
    if entries:
        return entries[0]["entry_id"]
    log(f"Creating the NVR '{NVR_NAME}' (config flow)")
    form = await api.post("/api/config/config_entries/flow", {"handler": "nvr", "show_advanced_options": False})
    defaults = {f["name"]: f.get("default") for f in form.get("data_schema", [])}
    answer = await api.post(
        f"/api/config/config_entries/flow/{form['flow_id']}",
        {"name": NVR_NAME, "storage_path": defaults.get("storage_path"), "discover_devices": discover_devices},
    )
    if answer.get("type") != "create_entry":
        raise SetupError(f"The NVR config flow did not create an entry: {answer}")
    return answer["result"]["entry_id"]


async def add_channel(api: Api, entry_id: str, channel: dict[str, Any]) -> None:
    """Add one channel through the subentry flow (user step, then confirm)."""
    form = await api.post("/api/config/config_entries/subentries/flow", {"handler": [entry_id, "channel"]})
    data = {"name": channel["name"], "main_url": channel["main_url"], "rtsp_transport": "tcp"}
    if channel.get("sub_url"):
        data["sub_url"] = channel["sub_url"]
    for key in ("objects", "object_min_score"):  # person and vehicle detection
        if key in channel:
            data[key] = channel[key]
    path = f"/api/config/config_entries/subentries/flow/{form['flow_id']}"
    deadline = time.monotonic() + CHANNEL_RETRY_SECONDS
    while True:
        answer = await api.post(path, data)
        if answer.get("type") == "form" and answer.get("step_id") == "confirm":
            placeholders = answer.get("description_placeholders") or {}
            log(f"  {channel['name']}: main {placeholders.get('main')}, sub {placeholders.get('sub')}")
            answer = await api.post(path, {})
            if answer.get("type") != "create_entry":
                raise SetupError(f"The channel flow did not save {channel['name']}: {answer}")
            return
        errors = answer.get("errors") or {}
        retryable = set(errors.values()) <= {"cannot_connect", "timeout"}
        if answer.get("type") == "form" and errors and retryable and time.monotonic() < deadline:
            log(f"  {channel['name']}: {errors} (the camera may be in its off phase), retrying")
            await asyncio.sleep(3)
            continue
        await api.request("DELETE", path, ok=(200, 404))  # abort the flow
        raise SetupError(f"The channel flow refused {channel['name']}: {answer.get('errors') or answer}")


async def ensure_channels(api: Api, entry_id: str, channels: list[dict[str, Any]]) -> None:
    existing = await api.ws("config_entries/subentries/list", entry_id=entry_id)
    if any(s["subentry_type"] == "channel" for s in existing):
        log(f"The NVR already has {len(existing)} channel(s): leaving them as they are")
        return
    log(f"Adding {len(channels)} channels (subentry flows; each stream is opened to check it)")
    for channel in channels:
        await add_channel(api, entry_id, channel)


async def channel_entities(api: Api, entry_id: str) -> list[dict[str, Any]]:
    """Per channel, in the order they were added: title and entity ids."""
    subentries = await api.ws("config_entries/subentries/list", entry_id=entry_id)
    registry = await api.ws("config/entity_registry/list")
    out = []
    for sub in subentries:
        if sub["subentry_type"] != "channel":
            continue
        prefix = f"{sub['subentry_id']}_"
        mine = {
            (e["entity_id"].split(".")[0], e["unique_id"].removeprefix(prefix)): e["entity_id"]
            for e in registry
            if e.get("config_subentry_id") == sub["subentry_id"] and e["platform"] == "nvr"
        }
        out.append(
            {
                "title": sub["title"],
                "subentry_id": sub["subentry_id"],
                "camera": mine.get(("camera", "main")),
                "sub_camera": mine.get(("camera", "sub")),
                "signal": mine.get(("binary_sensor", "video_signal")),
                "motion": mine.get(("binary_sensor", "motion")),
                "person": mine.get(("binary_sensor", "person")),
                "recording": mine.get(("binary_sensor", "recording")),
            }
        )
    return out


def dashboard(entry_id: str, channels: list[dict[str, Any]]) -> dict[str, Any]:
    """The NVR wall (live), the same wall as stills, and the channels' video signal over time."""
    signals = [ch["signal"] for ch in channels if ch["signal"]]
    wall = {"type": "custom:nvr-wall-card", "entry_id": entry_id, "layout": "auto", "stream": "auto"}
    return {
        "title": DASHBOARD_TITLE,
        "views": [
            {
                "title": "Wall",
                "path": "wall",
                "icon": "mdi:cctv",
                "type": "panel",
                "cards": [{**wall, "mode": "live"}],
            },
            {
                "title": "Stills",
                "path": "stills",
                "icon": "mdi:image-multiple",
                "type": "panel",
                "cards": [{**wall, "mode": "stills"}],
            },
            {
                "title": "Signals",
                "path": "signals",
                "icon": "mdi:chart-timeline-variant",
                "cards": [
                    {"type": "history-graph", "title": "Video signal", "hours_to_show": 0.25, "entities": signals}
                ],
            },
        ],
    }


def ours_and_old(config: dict[str, Any]) -> bool:
    """A dashboard an earlier scripts/develop saved (a grid of picture-entity tiles): replaced by the wall."""
    paths = [view.get("path") for view in config.get("views", [])]
    return config.get("title") == DASHBOARD_TITLE and paths == ["live", "snapshots"]


async def ensure_dashboard(api: Api, entry_id: str, channels: list[dict[str, Any]]) -> None:
    try:
        config = await api.ws("lovelace/config", url_path=None)
    except WsError as err:
        if err.code != "config_not_found":
            raise
        log("Saving the Lovelace dashboard (Wall: the NVR wall card, live; Stills; Signals)")
    else:
        if not ours_and_old(config):
            log("A Lovelace dashboard exists already: keeping it")
            return
        log("Replacing the dashboard of an earlier scripts/develop with the NVR wall")
    await api.ws("lovelace/config/save", url_path=None, config=dashboard(entry_id, channels))


async def wait_for_cameras(api: Api, channels: list[dict[str, Any]], flaky: set[str], seconds: float) -> None:
    """Wait until every camera has a state and every steady one has video."""
    deadline = time.monotonic() + seconds
    while True:
        states = {s["entity_id"]: s for s in await api.get("/api/states")}
        waiting = [
            ch["title"]
            for ch in channels
            if ch["camera"] not in states
            or (ch["title"] not in flaky and states.get(ch["signal"] or "", {}).get("state") != "on")
        ]
        if not waiting:
            break
        if time.monotonic() > deadline:
            log(f"Still no video from {', '.join(waiting)} after {seconds:.0f} s")
            break
        await asyncio.sleep(1)
    for ch in channels:
        signal = states.get(ch["signal"] or "", {})
        attrs = signal.get("attributes", {})
        detail = attrs.get("resolution") or attrs.get("failure") or ""
        note = " (drops out every minute)" if ch["title"] in flaky else ""
        log(f"  {ch['camera']:<18} video signal {signal.get('state', '?'):<4} {detail}{note}")


async def setup(demo_channels: list[dict[str, Any]]) -> None:
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = Api(session)
        try:
            await wait_http(api, seconds=600)
            log(f"Home Assistant answers on {api.base} ({time.monotonic() - started:.0f} s)")
            await onboard_or_login(api)
            await wait_running(api, seconds=600)
            entry_id = await ensure_nvr(api)
            await ensure_channels(api, entry_id, demo_channels)
            channels = await channel_entities(api, entry_id)
            # The entry reloads after each added channel: let its entities settle.
            for _ in range(30):
                if all(ch["camera"] and ch["signal"] for ch in channels):
                    break
                await asyncio.sleep(1)
                channels = await channel_entities(api, entry_id)
            await ensure_dashboard(api, entry_id, channels)
            flaky = {ch["name"] for ch in demo_channels if ch.get("flaky")}
            await wait_for_cameras(api, channels, flaky, seconds=60)
        finally:
            await api.close()
    log(f"Setup done in {time.monotonic() - started:.0f} s")


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "config":
        write_config(Path(argv[1]), int(argv[2]) if len(argv) > 2 else 8123)
        return 0
    if len(argv) >= 2 and argv[0] == "requirements":
        print("\n".join(missing_requirements(Path(argv[1]))))
        return 0
    if len(argv) >= 2 and argv[0] == "setup":
        try:
            asyncio.run(setup(json.loads(argv[1])))
        except SetupError as err:
            log(f"Setup failed: {err}")
            return 1
        except KeyboardInterrupt:
            return 130
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv[1:]))
