// The NVR page (sidebar "NVR"): playback on a timeline, like an NVR's playback screen.
//
// Pick a day (days without footage are dimmed), see each channel's footage and events on a time bar,
// click a moment: up to four ticked channels play from it in sync (nvr-playback.js), at 1x to 8x, with
// jumps to the previous or next event. Select a span on the bar and export it: the integration's
// nvr.export_clip action writes the MP4 into the media folder and the browser downloads it through
// a signed link from HA's media source. Smart search (nvr-search.js) finds the moments something moved in
// a region drawn on a channel's picture. Opened from the wall card as /nvr?entry=…&channels=…&t=….

import { el, icon } from "./nvr-dom.js";
import { EVENT_KINDS, eventFilter, shown, storedKinds } from "./nvr-event-filter.js";
import { language } from "./nvr-i18n.js";
import { Screen, canDecode } from "./nvr-panel-screen.js";
import { STRINGS, tr } from "./nvr-panel-strings.js";
import { STYLE } from "./nvr-panel-style.js";
import { NvrTimeline } from "./nvr-timeline.js";
import { SEARCH_STYLE, SmartSearch } from "./nvr-search.js";
import { SyncPlayback, ensureHlsPlayer } from "./nvr-playback.js";

const MAX_PLAYING = 4;
const SPEEDS = [1, 2, 4, 8];
const REFRESH_MS = 30000;
const EVENT_LEAD = 1; // seconds before an event that a jump lands on (its pre-roll is recorded too)

class NvrPanel extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._nvrs = [];
    this._entryId = null;
    this._day = null;
    this._selected = [];
    this._data = null;
    this._days = [];
    this._screens = [];
    this._playback = null;
    this._timer = null;
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (this._playback) this._playback.hass = hass;
    if (first) this._start();
  }

  get hass() {
    return this._hass;
  }

  set narrow(_value) {}

  /** HA sets the route on every navigation: a new query (the wall card's button again) plays what it asks. */
  set route(_value) {
    const search = window.location.search;
    if (!this._started || search === this._search || window.location.pathname !== "/nvr") return;
    this._applyQuery();
  }

  set panel(_value) {}

  connectedCallback() {
    if (this._hass && !this._timer) this._timer = setInterval(() => this._refresh(), REFRESH_MS);
  }

  disconnectedCallback() {
    clearInterval(this._timer);
    this._timer = null;
    if (this._playback) this._playback.stop();
    this._playback = null;
    this._playingKey = null;
    this._screens = [];
  }

  get _tz() {
    return (this._hass.config && this._hass.config.time_zone) || undefined;
  }

  _localDay(wall) {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: this._tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(new Date(wall * 1000));
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get("year")}-${get("month")}-${get("day")}`;
  }

  _format(wall) {
    return new Intl.DateTimeFormat(language(this._hass, STRINGS), {
      timeZone: this._tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    }).format(new Date(wall * 1000));
  }

  async _start() {
    this._build();
    ensureHlsPlayer(); // HA's player is loaded on demand: have it ready before the first click
    const { nvrs } = await this._hass.callWS({ type: "nvr/list" });
    this._nvrs = nvrs;
    if (!nvrs.length) {
      this._hint.textContent = tr(this._hass, "no_nvr");
      return;
    }
    this._started = true;
    await this._applyQuery();
    this.connectedCallback();
  }

  /** ?entry=…&channels=a,b&t=<epoch>: the NVR, the channels to play and the moment to play from. */
  async _applyQuery() {
    this._search = window.location.search;
    const params = new URLSearchParams(this._search);
    const nvr = this._nvrs.find((n) => n.entry_id === params.get("entry")) || this._nvrs[0];
    const ids = (params.get("channels") || "").split(",").filter(Boolean);
    const t = parseFloat(params.get("t"));
    await this._chooseNvr(nvr.entry_id, ids, Number.isFinite(t) ? t : null);
  }

  _build() {
    const root = this.shadowRoot;
    root.innerHTML = "";
    const style = el("style");
    style.textContent = STYLE + SEARCH_STYLE;
    const page = el("div", "page");
    const bar = el("div", "toolbar");
    bar.append(el("span", "title", tr(this._hass, "title")));
    this._nvrSelect = el("select", "nvr hidden");
    this._nvrSelect.addEventListener("change", () => this._chooseNvr(this._nvrSelect.value, [], null));
    const day = el("span", "day");
    this._prevDay = this._button("mdi:chevron-left", tr(this._hass, "previous_day"), () => this._shiftDay(-1));
    this._dayButton = this._button("", "", () => this._toggleCalendar());
    this._dayButton.classList.add("day-button");
    this._nextDay = this._button("mdi:chevron-right", tr(this._hass, "next_day"), () => this._shiftDay(1));
    this._calendar = el("div", "calendar hidden");
    day.append(this._prevDay, this._dayButton, this._nextDay, this._calendar);
    this._prevEvent = this._button("mdi:skip-previous", tr(this._hass, "previous_event"), () => this._jumpEvent(-1));
    this._playButton = this._button("mdi:play", tr(this._hass, "play"), () => this._togglePlay());
    this._playButton.classList.add("play");
    this._nextEvent = this._button("mdi:skip-next", tr(this._hass, "next_event"), () => this._jumpEvent(1));
    this._prevEvent.classList.add("previous-event");
    this._nextEvent.classList.add("next-event");
    this._speedButtons = SPEEDS.map((speed) => {
      const button = this._button(`${speed}×`, `${tr(this._hass, "speed")} ${speed}×`, () => {
        this._smart.stopPlaying();
        this._setSpeed(speed);
      });
      button.dataset.speed = String(speed);
      return button;
    });
    this._selectButton = this._button(tr(this._hass, "select_span"), "", () => this._toggleSelecting());
    this._selectButton.classList.add("select");
    this._exportButton = this._button(tr(this._hass, "export"), "", () => this.exportChannels());
    this._exportButton.classList.add("export");
    this._smart = new SmartSearch(this);
    this._searchButton = this._button("mdi:image-search", tr(this._hass, "smart_search"), () => this._smart.toggle());
    this._searchButton.classList.add("smart-search");
    this._filter = eventFilter((key) => tr(this._hass, key), (kinds) => {
      this._timeline.kinds = kinds;
      this._timeline.render();
    });
    bar.append(this._nvrSelect, day, this._prevEvent, this._playButton, this._nextEvent, ...this._speedButtons);
    bar.append(this._filter);
    bar.append(el("span", "spacer"), this._searchButton, this._selectButton, this._exportButton);
    this._screensNode = el("div", "screens");
    this._hint = el("div", "hint", tr(this._hass, "loading"));
    this._status = el("div", "status");
    this._statusTime = el("span", "time");
    this._statusText = el("span", "text");
    this._status.append(this._statusTime, this._statusText);
    this._timeline = document.createElement("nvr-timeline");
    this._timeline.locale = language(this._hass, STRINGS);
    this._timeline.timeZone = this._tz;
    this._timeline.labels = Object.fromEntries(EVENT_KINDS.map((kind) => [kind, tr(this._hass, kind)]));
    this._timeline.kinds = storedKinds();
    this._timeline.addEventListener("seek", (e) => {
      this._smart.stopPlaying();
      this.seek(e.detail.wall);
    });
    this._timeline.addEventListener("select", (e) => (this._selection = [e.detail.start, e.detail.end]));
    this._timeline.addEventListener("toggle", (e) => this._toggleChannel(e.detail.channel, e.detail.checked, e.detail.box));
    this._screensNode.append(this._hint);
    page.append(bar, this._smart.node, this._screensNode, this._status, this._timeline);
    root.append(style, page);
    this._setSpeed(1);
    this._updatePlayButton();
  }

  _button(text, title, onClick) {
    const button = el("button", "", text.startsWith("mdi:") ? undefined : text);
    if (text.startsWith("mdi:")) {
      button.append(icon(text));
      button.classList.add("icon");
    }
    if (title) {
      button.title = title;
      button.setAttribute("aria-label", title);
    }
    button.addEventListener("click", onClick);
    return button;
  }

  async _chooseNvr(entryId, ids, t) {
    const otherNvr = this._entryId !== entryId;
    if (this._playback && this._entryId !== entryId) {
      this._playback.stop();
      this._playback = null;
      this._playingKey = null;
      this._screensNode.replaceChildren(this._hint);
    }
    this._entryId = entryId;
    const nvr = this._nvrs.find((n) => n.entry_id === entryId);
    this._nvrSelect.innerHTML = "";
    for (const n of this._nvrs) {
      const option = el("option", "", n.name);
      option.value = n.entry_id;
      option.selected = n.entry_id === entryId;
      this._nvrSelect.append(option);
    }
    this._nvrSelect.classList.toggle("hidden", this._nvrs.length < 2);
    const known = nvr.channels.map((c) => c.id);
    this._selected = ids.filter((id) => known.includes(id)).slice(0, MAX_PLAYING);
    if (!this._selected.length) this._selected = known.slice(0, MAX_PLAYING);
    this._day = this._localDay(t ?? Date.now() / 1000);
    this._days = (await this._hass.callWS({ type: "nvr/timeline/days", entry_id: entryId })).days;
    await this._loadDay();
    if (otherNvr) this._smart.reset(); // its channels and results were the other NVR's
    if (t != null) {
      this._timeline.focus(t, 600);
      this.seek(t);
    } else {
      this._hint.textContent = tr(this._hass, "click_to_play");
    }
  }

  async _loadDay(keepView = false) {
    const data = await this._hass.callWS({ type: "nvr/timeline", entry_id: this._entryId, day: this._day });
    this._data = data;
    this._dayButton.textContent = this._day;
    this._dayButton.classList.toggle("dim", !this._days.includes(this._day));
    this._timeline.selected = this._selected;
    this._timeline.setData(data, keepView);
  }

  /** A row's box ticks its channel in or out of playback. */
  _toggleChannel(id, checked, box) {
    if (checked && this._selected.length >= MAX_PLAYING) {
      box.checked = false;
      this._statusText.textContent = tr(this._hass, "too_many");
      return;
    }
    this._selected = checked ? [...this._selected, id] : this._selected.filter((c) => c !== id);
    this._timeline.selected = this._selected;
    this._timeline.render();
    if (this._playback && this._playback.wall != null) this.seek(this._playback.wall);
  }

  /** The ticked channels, in the order they were picked (the wall card's order when opened from it). */
  _channelsPlaying() {
    return this._selected.map((id) => this._data.channels.find((c) => c.id === id)).filter(Boolean);
  }

  /** Play the ticked channels from ``wall`` (epoch seconds). */
  async seek(wall) {
    const channels = this._channelsPlaying();
    if (!channels.length) {
      if (this._playback) this._playback.stop();
      this._playback = null;
      this._playingKey = null;
      this._screens = [];
      this._hint.textContent = tr(this._hass, "pick_channels");
      this._screensNode.style.gridTemplateColumns = "";
      this._screensNode.replaceChildren(this._hint);
      return;
    }
    if (!this._playback) {
      this._playback = new SyncPlayback(this._hass, this._entryId, (p) => this._onTick(p));
      this._playback.nextFootage = (w) => this._nextFootage(w);
      this._playback.hasFootage = (channel, start, end) => this._hasFootage(channel, start, end);
    }
    const key = channels.map((c) => c.id).join(",");
    if (this._playingKey !== key || this._playback.entryId !== this._entryId) {
      this._playingKey = key;
      this._playback.entryId = this._entryId;
      this._screens = channels.map((c) => new Screen(this, c));
      const cols = channels.length === 1 ? 1 : 2;
      this._screensNode.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
      this._screensNode.replaceChildren(...this._screens.map((s) => s.node));
      this._playback.wall = null;
      await this._playback.setChannels(channels, this._screens);
      this._playback.channels.forEach((playback, i) => {
        if (!canDecode(channels[i].codec)) {
          playback.unplayable = true;
          this._screens[i].cannotPlay(channels[i].codec);
        }
      });
    }
    this._playback.seek(wall);
    this._updatePlayButton();
  }

  _hasFootage(channelId, start, end) {
    const data = this._data;
    if (!data || start < data.start || end > data.end + 3600) return true; // beyond the day shown: not known
    const channel = data.channels.find((c) => c.id === channelId);
    return !channel || channel.spans.some(([s, e]) => s < end && e > start) || end > data.now;
  }

  _nextFootage(wall) {
    let best = null;
    for (const channel of this._channelsPlaying()) {
      for (const [s, e] of channel.spans) {
        if (e <= wall) continue;
        const at = Math.max(s, wall);
        if (best == null || at < best) best = at;
        break;
      }
    }
    return best;
  }

  _onTick(playback) {
    const wall = playback.wall;
    this._timeline.setPlayhead(wall);
    const live = wall > Date.now() / 1000 - 5;
    this._statusTime.textContent = this._format(wall);
    this._statusText.textContent = live ? tr(this._hass, "live") : this._strainText(playback);
    const positions = playback.positions();
    this._screens.forEach((screen, i) => {
      const at = positions[i] && positions[i].wall;
      screen.clock.textContent = at != null ? this._format(at).split(" ").pop() : "";
    });
    if (playback.speed !== this._speed) this._setSpeed(playback.speed);
    this._smart.drive(playback);
    // The playhead crossed midnight: the bar follows it to the next day, playback goes on.
    if (this._data && (wall >= this._data.end || wall < this._data.start) && !this._loadingDay) {
      this._loadingDay = true;
      this._day = this._localDay(wall);
      this._loadDay().finally(() => (this._loadingDay = false));
    }
  }

  /** "Catching up" while playback cannot keep its speed or its channels together (else nothing). */
  _strainText(playback) {
    const strain = playback.strain;
    if (!strain.catchingUp) return "";
    if (strain.slow) {
      return tr(this._hass, "catching_up", { achieved: strain.achieved.toFixed(1), speed: playback.speed });
    }
    return tr(this._hass, "out_of_step", { spread: strain.spread.toFixed(1) });
  }

  _setSpeed(speed) {
    this._speed = speed;
    if (this._playback) this._playback.setSpeed(speed);
    for (const button of this._speedButtons) button.setAttribute("aria-pressed", String(button.dataset.speed === String(speed)));
  }

  _togglePlay() {
    if (!this._playback || this._playback.wall == null) return;
    this._playback.setPlaying(!this._playback.playing);
    this._updatePlayButton();
  }

  _updatePlayButton() {
    const playing = Boolean(this._playback && this._playback.playing);
    this._playButton.querySelector("ha-icon").icon = playing ? "mdi:pause" : "mdi:play";
    this._playButton.title = tr(this._hass, playing ? "pause" : "play");
    this._playButton.setAttribute("aria-label", this._playButton.title);
  }

  _jumpEvent(direction) {
    const wall = this._playback && this._playback.wall != null ? this._playback.wall : this._timeline.view[0];
    const starts = this._channelsPlaying()
      .flatMap((c) => c.events.filter((e) => shown(this._timeline.kinds, e.kind)).map((e) => e.start))
      .sort((a, b) => a - b);
    const target =
      direction > 0
        ? starts.find((s) => s > wall + EVENT_LEAD)
        : [...starts].reverse().find((s) => s < wall - EVENT_LEAD - 1);
    if (target != null) this.seek(target - EVENT_LEAD);
  }

  async _shiftDay(days) {
    const [y, m, d] = this._day.split("-").map(Number);
    const date = new Date(Date.UTC(y, m - 1, d + days, 12));
    this._day = date.toISOString().slice(0, 10);
    await this._loadDay();
  }

  _toggleCalendar(month) {
    const cal = this._calendar;
    if (month === undefined && !cal.classList.contains("hidden")) {
      cal.classList.add("hidden");
      return;
    }
    const [y, m] = (month || this._day).split("-").map(Number);
    cal.innerHTML = "";
    const prev = this._button("mdi:chevron-left", "", () => this._toggleCalendar(this._monthOf(y, m - 1)));
    const next = this._button("mdi:chevron-right", "", () => this._toggleCalendar(this._monthOf(y, m + 1)));
    cal.append(prev, el("span", "month", `${y}-${String(m).padStart(2, "0")}`), next);
    const first = new Date(Date.UTC(y, m - 1, 1));
    const lead = (first.getUTCDay() + 6) % 7; // weeks start on Monday
    for (let i = 0; i < lead; i++) cal.append(el("span"));
    const length = new Date(Date.UTC(y, m, 0)).getUTCDate();
    for (let d = 1; d <= length; d++) {
      const iso = `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
      const button = this._button(String(d), iso, async () => {
        cal.classList.add("hidden");
        this._day = iso;
        await this._loadDay();
      });
      button.dataset.day = iso;
      if (!this._days.includes(iso)) button.classList.add("dim");
      if (iso === this._day) button.classList.add("chosen");
      cal.append(button);
    }
    cal.classList.remove("hidden");
  }

  _monthOf(y, m) {
    const date = new Date(Date.UTC(y, m - 1, 1));
    return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}-01`;
  }

  _toggleSelecting() {
    this._timeline.selecting = !this._timeline.selecting;
    this._selectButton.setAttribute("aria-pressed", String(this._timeline.selecting));
    this._timeline.render();
  }

  async _refresh() {
    if (!this._entryId || !this._data || this._data.end < Date.now() / 1000 - 3600) return;
    await this._loadDay(true); // today: the bar grows with the footage
  }

  /** Export the selected span of ``channels`` (default: the ones playing) and download each file. */
  async exportChannels(channels) {
    const span = this._selection;
    if (!span) {
      this._statusText.textContent = tr(this._hass, "export_hint");
      return;
    }
    const nvr = this._nvrs.find((n) => n.entry_id === this._entryId);
    for (const channel of channels || this._channelsPlaying()) {
      const entityId = (nvr.channels.find((c) => c.id === channel.id) || { entities: {} }).entities.camera;
      if (!entityId) continue;
      this._statusText.textContent = tr(this._hass, "exporting", { channel: channel.name });
      try {
        const result = await this._hass.callWS({
          type: "call_service",
          domain: "nvr",
          service: "export_clip",
          target: { entity_id: entityId },
          service_data: { start: new Date(span[0] * 1000).toISOString(), end: new Date(span[1] * 1000).toISOString() },
          return_response: true,
        });
        const clip = result.response[entityId];
        const resolved = await this._hass.callWS({
          type: "media_source/resolve_media",
          media_content_id: clip.media_content_id,
        });
        const name = clip.path.split("/").pop();
        const link = el("a");
        link.href = this._hass.hassUrl ? this._hass.hassUrl(resolved.url) : resolved.url;
        link.download = name;
        link.className = "download";
        this.shadowRoot.append(link);
        link.click();
        link.remove();
        this._lastDownload = { name, url: link.href };
        this._statusText.textContent = tr(this._hass, "exported", { name });
      } catch (err) {
        this._statusText.textContent = tr(this._hass, "export_failed", {
          channel: channel.name,
          error: (err && err.message) || String(err),
        });
      }
    }
  }
}

// As the wall card: define once HA's root element is, on the registry in place then.
async function register() {
  await window.customElements.whenDefined("home-assistant");
  const registry = window.customElements;
  if (!registry.get("nvr-timeline")) registry.define("nvr-timeline", NvrTimeline);
  if (!registry.get("nvr-panel")) registry.define("nvr-panel", NvrPanel);
}
register();
