// The NVR wall: a grid of live channels like an NVR's monitor, on Home Assistant's own camera player.
// Plain JavaScript web components, served by the nvr integration; no build step, nothing from a CDN.
//
// Each tile: the channel's name (bottom left), a red record mark while it records, a yellow alarm
// mark while its motion sensor is on (with an icon for each person, vehicle... seen now), and a
// full-tile "No video signal" over the player while its video signal is off (so a frozen last picture is never shown as live). Status comes from the
// integration's WebSocket API (nvr/list, nvr/subscribe): the card never polls.

import { el, icon } from "./nvr-dom.js";
import { NvrWallCardEditor } from "./nvr-wall-card-editor.js";
import { tr } from "./nvr-wall-strings.js";
import { STYLE } from "./nvr-wall-style.js";

const LAYOUTS = {
  1: { cols: 1, big: 0 },
  4: { cols: 2, big: 0 },
  6: { cols: 3, big: 2 },
  8: { cols: 4, big: 3 },
  9: { cols: 3, big: 0 },
  16: { cols: 4, big: 0 },
};
const STILLS_INTERVAL = 1500;
/** The alarm mark's icon for each kind of object (HA's Material Design icons). */
const OBJECT_ICONS = { person: "mdi:walk", vehicle: "mdi:car", bicycle: "mdi:bicycle", animal: "mdi:paw" };

function autoLayout(count) {
  return [1, 4, 6, 8, 9, 16].find((size) => count <= size) || 16;
}

async function ensureCameraStream() {
  if (customElements.get("ha-camera-stream")) return;
  if (window.loadCardHelpers) {
    const helpers = await window.loadCardHelpers();
    helpers.importMoreInfoControl("camera");
  }
  await customElements.whenDefined("ha-camera-stream");
}

class NvrWallCard extends HTMLElement {
  static getConfigElement() {
    const editor = document.createElement("nvr-wall-card-editor");
    editor.layouts = Object.keys(LAYOUTS);
    return editor;
  }

  static getStubConfig() {
    return { layout: "auto", mode: "live", stream: "auto" };
  }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._config = {};
    this._nvr = null;
    this._statuses = {};
    this._tiles = new Map();
    this._zoomed = null;
    this._unsubscribe = null;
    this._subscribing = false;
    this._stillsTimer = null;
    // HA's player sizes its video by width, capped at --video-max-height: cap it at the tile's height.
    this._resize = new ResizeObserver((entries) => {
      for (const entry of entries) entry.target.style.setProperty("--video-max-height", `${entry.contentRect.height}px`);
    });
    this._onKey = (ev) => {
      if (ev.key === "Escape" && this._zoomed) this._zoom(null);
    };
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    const layout = config.layout ?? "auto";
    if (layout !== "auto" && !LAYOUTS[Number(layout)]) throw new Error(`Unknown layout ${layout}`);
    const changed = JSON.stringify(config) !== JSON.stringify(this._config);
    this._config = { ...config };
    if (changed && this._nvrs) {
      this._resubscribe();
    }
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first || !this._unsubscribe) this._subscribe();
    for (const tile of this._tiles.values()) this._updatePlayer(tile);
  }

  get hass() {
    return this._hass;
  }

  connectedCallback() {
    document.addEventListener("keydown", this._onKey);
    if (this._hass && !this._unsubscribe) this._subscribe();
    this._startStills();
  }

  disconnectedCallback() {
    document.removeEventListener("keydown", this._onKey);
    this._stopStills();
    this._unsubscribeNow();
  }

  getCardSize() {
    return 1 + 3 * Math.ceil(this._slotCount() / this._layout().cols);
  }

  getGridOptions() {
    return { columns: 12, rows: "auto", min_columns: 6 };
  }

  // -- data -----------------------------------------------------------------------

  async _subscribe() {
    if (this._subscribing || !this._hass || !this.isConnected) return;
    this._subscribing = true;
    try {
      const message = { type: "nvr/subscribe" };
      if (this._config.entry_id) message.entry_id = this._config.entry_id;
      this._unsubscribe = await this._hass.connection.subscribeMessage((event) => this._onEvent(event), message);
    } catch (err) {
      this._showMessage(err && err.message ? err.message : String(err));
    } finally {
      this._subscribing = false;
    }
  }

  _unsubscribeNow() {
    if (this._unsubscribe) {
      this._unsubscribe().catch(() => {});
      this._unsubscribe = null;
    }
  }

  _resubscribe() {
    this._unsubscribeNow();
    this._subscribe();
  }

  _onEvent(event) {
    if (event.type === "snapshot") {
      this._nvrs = event.nvrs;
      const nvr = event.nvrs.find((n) => n.entry_id === this._config.entry_id) || event.nvrs[0] || null;
      this._nvr = nvr;
      this._statuses = {};
      if (nvr) for (const channel of nvr.channels) this._statuses[channel.id] = channel.status;
      this._render();
    } else if (event.type === "status") {
      this._statuses[event.channel] = event.status;
      const tile = this._tiles.get(event.channel);
      if (tile) this._updateTile(tile);
    } else if (event.type === "nvr" && this._nvr && event.entry_id === this._nvr.entry_id) {
      this._nvr.status = event.status;
      this._updateHeader();
    }
  }

  _channels() {
    if (!this._nvr) return [];
    const all = this._nvr.channels;
    const picked = this._config.channels;
    if (!Array.isArray(picked) || !picked.length) return all;
    return picked.map((id) => all.find((c) => c.id === id)).filter(Boolean);
  }

  _slotCount() {
    const layout = this._config.layout ?? "auto";
    return layout === "auto" ? autoLayout(this._channels().length) : Number(layout);
  }

  _layout() {
    return LAYOUTS[this._slotCount()] || LAYOUTS[16];
  }

  _useSub(channel) {
    const stream = this._config.stream ?? "auto";
    if (!channel.entities.camera_sub || !this._hass || !this._hass.states[channel.entities.camera_sub]) return false;
    if (this._zoomed) return false;
    if (stream === "sub") return true;
    if (stream === "main") return false;
    return this._slotCount() >= 9;
  }

  // -- rendering --------------------------------------------------------------------

  _showMessage(text) {
    this.shadowRoot.innerHTML = "";
    const style = el("style");
    style.textContent = STYLE;
    this.shadowRoot.append(style, el("ha-card", "message", text));
  }

  _render() {
    this._tiles.clear();
    if (!this._nvr) {
      this._showMessage(tr(this._hass, this._nvrs ? "no_nvr" : "loading"));
      return;
    }
    const style = el("style");
    style.textContent = STYLE;
    const card = el("ha-card");
    this._header = el("div", "header");
    this._grid = el("div", "grid");
    card.append(this._header, this._grid);
    this.shadowRoot.innerHTML = "";
    this.shadowRoot.append(style, card);
    this._updateHeader();
    this._layoutGrid();
  }

  _layoutGrid() {
    this._resize.disconnect();
    const grid = this._grid;
    grid.innerHTML = "";
    this._tiles.clear();
    const channels = this._channels();
    if (this._zoomed) {
      grid.style.gridTemplateColumns = "1fr";
      const channel = channels.find((c) => c.id === this._zoomed);
      if (channel) grid.append(this._tile(channel).node);
      return;
    }
    const { cols, big } = this._layout();
    grid.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
    const slots = this._slotCount();
    for (let n = 0; n < slots; n += 1) {
      const channel = channels[n];
      const node = channel ? this._tile(channel).node : el("div", "tile blank");
      if (n === 0 && big) {
        node.style.gridColumn = `span ${big}`;
        node.style.gridRow = `span ${big}`;
      }
      grid.append(node);
    }
  }

  _updateHeader() {
    if (!this._header || !this._nvr) return;
    const status = this._nvr.status || {};
    const hass = this._hass;
    // The button stays (a status change must not take it from under the pointer or the keyboard's focus).
    let playback = this._header.querySelector(".playback");
    if (!playback) {
      playback = el("button", "playback");
      playback.append(icon("mdi:history"));
      playback.addEventListener("click", () => this._openPlayback());
      this._header.append(playback);
    }
    playback.title = tr(hass, "playback");
    playback.setAttribute("aria-label", playback.title);
    const parts = [el("span", "title", this._nvr.name)];
    parts.push(el("span", "online", tr(hass, "online", { online: status.online, total: status.total })));
    if (status.storage_used_gb != null) {
      parts.push(
        el("span", "storage", tr(hass, "storage", { used: status.storage_used_gb, free: status.storage_free_gb })),
      );
    }
    const issue = status.storage_issue || Object.values(this._statuses).some((s) => s && s.issue);
    if (issue) {
      const warning = el("span", "warning");
      warning.append(icon("mdi:alert"));
      warning.title = tr(hass, "issue");
      parts.push(warning);
    }
    for (const child of [...this._header.children]) if (child !== playback) child.remove();
    playback.before(...parts);
  }

  /** The NVR page, playing this card's channels from a minute ago. */
  _openPlayback() {
    const ids = this._channels().map((c) => c.id);
    const t = Math.floor(Date.now() / 1000) - 60;
    const query = new URLSearchParams({ entry: this._nvr.entry_id, channels: ids.join(","), t: String(t) });
    window.history.pushState(null, "", `/nvr?${query}`);
    window.dispatchEvent(new CustomEvent("location-changed", { detail: { replace: false } }));
  }

  _tile(channel) {
    const node = el("div", "tile");
    node.dataset.channel = channel.id;
    const media = el("div", "media");
    const marks = el("div", "marks");
    const rec = el("span", "rec hidden");
    rec.title = tr(this._hass, "recording");
    const alarm = el("span", "alarm hidden");
    alarm.title = tr(this._hass, "motion");
    const objects = el("span", "objects");
    marks.append(objects, alarm, rec);
    const noSignal = el("div", "nosignal hidden");
    noSignal.append(el("div", "text", tr(this._hass, "no_signal")), el("div", "channel", channel.name));
    node.append(media, noSignal, marks, el("div", "name", channel.name));
    node.addEventListener("click", () => this._zoom(this._zoomed ? null : channel.id));
    const tile = { channel, node, media, rec, alarm, objects, noSignal, player: null, entity: null, online: null };
    this._resize.observe(node);
    this._tiles.set(channel.id, tile);
    this._updateTile(tile);
    return tile;
  }

  /** The alarm's labels: an icon for each kind of object seen now (a person, a vehicle...). */
  _updateObjects(tile, labels) {
    const shown = [...tile.objects.children].map((node) => node.dataset.label);
    if (shown.join() === labels.join()) return;
    tile.objects.replaceChildren(
      ...labels.map((label) => {
        const mark = el("span", `object ${label}`);
        mark.dataset.label = label;
        mark.title = tr(this._hass, label);
        mark.append(icon(OBJECT_ICONS[label] || "mdi:alert-circle"));
        return mark;
      }),
    );
  }

  _zoom(channelId) {
    this._zoomed = channelId;
    this._layoutGrid();
  }

  _updateTile(tile) {
    const status = this._statuses[tile.channel.id] || {};
    tile.rec.classList.toggle("hidden", !status.recording);
    tile.alarm.classList.toggle("hidden", !(status.motion && status.online));
    this._updateObjects(tile, status.online ? status.objects || [] : []);
    tile.noSignal.classList.toggle("hidden", !!status.online);
    tile.node.classList.toggle("offline", !status.online);
    if (status.online && tile.online === false && tile.player && this._mode() === "live") {
      // The player may have given up during the outage: a fresh one starts cleanly.
      tile.player.remove();
      tile.player = null;
    }
    tile.online = !!status.online;
    this._updatePlayer(tile);
    this._updateHeader();
  }

  _mode() {
    return this._config.mode === "stills" ? "stills" : "live";
  }

  _updatePlayer(tile) {
    const hass = this._hass;
    if (!hass) return;
    const entity = this._useSub(tile.channel) ? tile.channel.entities.camera_sub : tile.channel.entities.camera;
    const stateObj = entity && hass.states[entity];
    if (!stateObj) return;
    if (tile.entity !== entity && tile.player) {
      tile.player.remove();
      tile.player = null;
    }
    tile.entity = entity;
    if (this._mode() === "stills") {
      if (!tile.player) {
        tile.player = el("img");
        tile.player.alt = tile.channel.name;
        tile.media.append(tile.player);
        this._refreshStill(tile);
      }
      return;
    }
    if (!tile.player) {
      tile.player = el("div");
      tile.media.append(tile.player);
      const holder = tile.player;
      ensureCameraStream().then(() => {
        if (tile.player !== holder) return;
        const stream = document.createElement("ha-camera-stream");
        stream.muted = true;
        stream.hass = this._hass;
        stream.stateObj = this._hass.states[tile.entity];
        holder.replaceWith(stream);
        tile.player = stream;
      });
      return;
    }
    if (tile.player.localName === "ha-camera-stream") {
      tile.player.hass = hass;
      tile.player.stateObj = stateObj;
    }
  }

  _refreshStill(tile) {
    const stateObj = this._hass && tile.entity && this._hass.states[tile.entity];
    if (!stateObj || !tile.player || tile.player.localName !== "img") return;
    const width = Math.max(160, Math.round(tile.node.clientWidth * (window.devicePixelRatio || 1)));
    const token = stateObj.attributes.access_token;
    tile.player.src = `/api/camera_proxy/${tile.entity}?token=${token}&width=${width}&t=${Date.now()}`;
  }

  _startStills() {
    if (this._stillsTimer) return;
    this._stillsTimer = setInterval(() => {
      if (this._mode() !== "stills") return;
      for (const tile of this._tiles.values()) this._refreshStill(tile);
    }, STILLS_INTERVAL);
  }

  _stopStills() {
    clearInterval(this._stillsTimer);
    this._stillsTimer = null;
  }
}

// HA loads this module while its app starts, and the app may then replace window.customElements
// (its scoped-registry polyfill): an element defined before that is unknown to HA's dashboards.
// So define ours once HA's own root element is, on the registry in place then.
async function register() {
  await window.customElements.whenDefined("home-assistant");
  const registry = window.customElements;
  if (!registry.get("nvr-wall-card")) registry.define("nvr-wall-card", NvrWallCard);
  if (!registry.get("nvr-wall-card-editor")) registry.define("nvr-wall-card-editor", NvrWallCardEditor);
}
register();

window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === "nvr-wall-card")) {
  window.customCards.push({
    type: "nvr-wall-card",
    name: tr(document.querySelector("home-assistant")?.hass, "name"),
    description: tr(document.querySelector("home-assistant")?.hass, "description"),
    preview: true,
    documentationURL: "https://github.com/nvr-ha/nvr#the-nvr-wall",
  });
}
