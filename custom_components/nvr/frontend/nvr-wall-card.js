// The NVR wall: a grid of live channels like an NVR's monitor, on Home Assistant's own camera player.
// Plain JavaScript web components, served by the nvr integration; no build step, nothing from a CDN.
//
// Each tile: the channel's name (bottom left), a red record mark while it records, a yellow alarm
// mark while its motion sensor is on, and a full-tile "No video signal" over the player while its
// video signal is off (so a frozen last picture is never shown as live). Status comes from the
// integration's WebSocket API (nvr/list, nvr/subscribe): the card never polls.

// STRINGS-BEGIN
const STRINGS = {
  "en": {
    "name": "NVR wall",
    "description": "The channels of an NVR in a grid, like an NVR's monitor: names, record and alarm marks, \"No video signal\".",
    "no_signal": "No video signal",
    "online": "{online}/{total} online",
    "storage": "{used} GB used · {free} GB free",
    "issue": "A channel or the storage needs attention (Settings → Repairs)",
    "recording": "Recording",
    "motion": "Motion",
    "no_nvr": "No NVR is set up yet.",
    "loading": "Loading…",
    "empty": "No channel",
    "nvr": "NVR",
    "layout": "Layout",
    "layout_auto": "Automatic",
    "mode": "View",
    "mode_live": "Live",
    "mode_stills": "Stills (for weak devices and big walls)",
    "stream": "Stream",
    "stream_auto": "Automatic (sub stream on 9 and 16 tiles)",
    "stream_main": "Main stream",
    "stream_sub": "Sub stream",
    "channels": "Channels (ticked ones, in this order; none ticked: all)",
    "up": "Move up",
    "down": "Move down",
    "playback": "Playback from a minute ago"
  },
  "zh-Hans": {
    "name": "NVR 监控墙",
    "description": "以网格显示 NVR 的通道，如同 NVR 的监视器：通道名称、录像和报警标记、“无视频信号”。",
    "no_signal": "无视频信号",
    "online": "{online}/{total} 在线",
    "storage": "已用 {used} GB · 可用 {free} GB",
    "issue": "有通道或存储需要处理（设置 → 修复）",
    "recording": "录像中",
    "motion": "移动侦测",
    "no_nvr": "尚未设置 NVR。",
    "loading": "加载中…",
    "empty": "无通道",
    "nvr": "NVR",
    "layout": "画面分割",
    "layout_auto": "自动",
    "mode": "显示方式",
    "mode_live": "实时视频",
    "mode_stills": "静态画面（适合性能较弱的设备和大监控墙）",
    "stream": "码流",
    "stream_auto": "自动（9 和 16 画面使用子码流）",
    "stream_main": "主码流",
    "stream_sub": "子码流",
    "channels": "通道（勾选的通道按此顺序显示；不勾选则显示全部）",
    "up": "上移",
    "down": "下移",
    "playback": "从一分钟前开始回放"
  },
  "ko": {
    "name": "NVR 월",
    "description": "NVR의 채널을 NVR 모니터처럼 격자로 표시합니다: 채널 이름, 녹화 및 알람 표시, \"비디오 신호 없음\".",
    "no_signal": "비디오 신호 없음",
    "online": "{online}/{total} 온라인",
    "storage": "{used} GB 사용 · {free} GB 여유",
    "issue": "채널 또는 저장소에 확인이 필요합니다 (설정 → 수리)",
    "recording": "녹화 중",
    "motion": "모션",
    "no_nvr": "아직 설정된 NVR이 없습니다.",
    "loading": "불러오는 중…",
    "empty": "채널 없음",
    "nvr": "NVR",
    "layout": "화면 분할",
    "layout_auto": "자동",
    "mode": "보기",
    "mode_live": "실시간",
    "mode_stills": "정지 화면 (저사양 기기와 큰 화면용)",
    "stream": "스트림",
    "stream_auto": "자동 (9분할과 16분할은 서브 스트림)",
    "stream_main": "메인 스트림",
    "stream_sub": "서브 스트림",
    "channels": "채널 (선택한 채널을 이 순서로 표시; 선택하지 않으면 전체)",
    "up": "위로",
    "down": "아래로",
    "playback": "1분 전부터 재생"
  }
};
// STRINGS-END

const LAYOUTS = {
  1: { cols: 1, big: 0 },
  4: { cols: 2, big: 0 },
  6: { cols: 3, big: 2 },
  8: { cols: 4, big: 3 },
  9: { cols: 3, big: 0 },
  16: { cols: 4, big: 0 },
};
const STILLS_INTERVAL = 1500;

export function language(hass) {
  const wanted = (hass && ((hass.locale && hass.locale.language) || hass.language)) || "en";
  if (STRINGS[wanted]) return wanted;
  const lower = wanted.toLowerCase();
  if (["zh-cn", "zh-sg", "zh-my", "zh-hans"].includes(lower)) return "zh-Hans";
  const exact = Object.keys(STRINGS).find((key) => key.toLowerCase() === lower);
  if (exact) return exact;
  const prefix = lower.split("-")[0];
  return Object.keys(STRINGS).find((key) => key.toLowerCase() === prefix) || "en";
}

export function tr(hass, key, vars = {}) {
  const text = STRINGS[language(hass)][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_m, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function autoLayout(count) {
  return [1, 4, 6, 8, 9, 16].find((size) => count <= size) || 16;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function ensureCameraStream() {
  if (customElements.get("ha-camera-stream")) return;
  if (window.loadCardHelpers) {
    const helpers = await window.loadCardHelpers();
    helpers.importMoreInfoControl("camera");
  }
  await customElements.whenDefined("ha-camera-stream");
}

const STYLE = `
  :host { display: block; }
  ha-card { overflow: hidden; background: #000; color: #eee; }
  .header { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center; padding: 8px 12px;
    background: #15171b; font-size: 14px; }
  .header .title { font-weight: 600; font-size: 16px; margin-right: auto; }
  .header .warning { color: #ffc107; font-weight: 700; cursor: help; }
  .header .playback { font: inherit; color: inherit; background: rgba(255,255,255,.08); border: 1px solid rgba(255,255,255,.25);
    border-radius: 4px; padding: 2px 8px; cursor: pointer; }
  .grid { display: grid; gap: 2px; background: #222; }
  .tile { position: relative; aspect-ratio: 16 / 9; background: #0b0c0e; overflow: hidden; cursor: pointer; }
  .tile.blank { cursor: default; background: #101114; }
  .tile .media, .tile .media > * { position: absolute; inset: 0; width: 100%; height: 100%; }
  .tile .media img { object-fit: contain; }
  .tile .media ha-camera-stream { display: flex; flex-direction: column; justify-content: center; }
  .tile .name { position: absolute; left: 6px; bottom: 4px; padding: 1px 6px; background: rgba(0,0,0,.55);
    border-radius: 3px; font-size: 13px; max-width: 80%; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
    z-index: 3; }
  .tile .marks { position: absolute; top: 6px; right: 6px; display: flex; gap: 6px; z-index: 3; }
  .tile .rec { width: 12px; height: 12px; border-radius: 50%; background: #e53935; box-shadow: 0 0 4px #e53935; }
  .tile .alarm { width: 0; height: 0; border-left: 8px solid transparent; border-right: 8px solid transparent;
    border-bottom: 14px solid #fdd835; }
  .tile .nosignal { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
    flex-direction: column; background: #101216; color: #ebebeb; font-size: clamp(12px, 4cqi, 28px); z-index: 2;
    text-align: center; container-type: inline-size; }
  .tile .nosignal .channel { color: #9aa0a6; font-size: 0.6em; margin-top: 0.4em; }
  .hidden { display: none !important; }
  .message { padding: 16px; color: var(--primary-text-color); background: var(--card-background-color); }
`;

class NvrWallCard extends HTMLElement {
  static getConfigElement() {
    return document.createElement("nvr-wall-card-editor");
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
    const style = element("style");
    style.textContent = STYLE;
    this.shadowRoot.append(style, element("ha-card", "message", text));
  }

  _render() {
    this._tiles.clear();
    if (!this._nvr) {
      this._showMessage(tr(this._hass, this._nvrs ? "no_nvr" : "loading"));
      return;
    }
    const style = element("style");
    style.textContent = STYLE;
    const card = element("ha-card");
    this._header = element("div", "header");
    this._grid = element("div", "grid");
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
      const node = channel ? this._tile(channel).node : element("div", "tile blank");
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
      playback = element("button", "playback", "⏪");
      playback.addEventListener("click", () => this._openPlayback());
      this._header.append(playback);
    }
    playback.title = tr(hass, "playback");
    playback.setAttribute("aria-label", playback.title);
    const parts = [element("span", "title", this._nvr.name)];
    parts.push(element("span", "online", tr(hass, "online", { online: status.online, total: status.total })));
    if (status.storage_used_gb != null) {
      parts.push(
        element("span", "storage", tr(hass, "storage", { used: status.storage_used_gb, free: status.storage_free_gb })),
      );
    }
    const issue = status.storage_issue || Object.values(this._statuses).some((s) => s && s.issue);
    if (issue) {
      const warning = element("span", "warning", "⚠");
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
    const node = element("div", "tile");
    node.dataset.channel = channel.id;
    const media = element("div", "media");
    const marks = element("div", "marks");
    const rec = element("span", "rec hidden");
    rec.title = tr(this._hass, "recording");
    const alarm = element("span", "alarm hidden");
    alarm.title = tr(this._hass, "motion");
    marks.append(alarm, rec);
    const noSignal = element("div", "nosignal hidden");
    noSignal.append(element("div", "text", tr(this._hass, "no_signal")), element("div", "channel", channel.name));
    node.append(media, noSignal, marks, element("div", "name", channel.name));
    node.addEventListener("click", () => this._zoom(this._zoomed ? null : channel.id));
    const tile = { channel, node, media, rec, alarm, noSignal, player: null, entity: null, online: null };
    this._resize.observe(node);
    this._tiles.set(channel.id, tile);
    this._updateTile(tile);
    return tile;
  }

  _zoom(channelId) {
    this._zoomed = channelId;
    this._layoutGrid();
  }

  _updateTile(tile) {
    const status = this._statuses[tile.channel.id] || {};
    tile.rec.classList.toggle("hidden", !status.recording);
    tile.alarm.classList.toggle("hidden", !(status.motion && status.online));
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
        tile.player = element("img");
        tile.player.alt = tile.channel.name;
        tile.media.append(tile.player);
        this._refreshStill(tile);
      }
      return;
    }
    if (!tile.player) {
      tile.player = element("div");
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

// -- the visual editor ------------------------------------------------------------------

class NvrWallCardEditor extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._config = {};
    this._nvrs = null;
  }

  setConfig(config) {
    this._config = { ...config };
    this._render();
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first) {
      hass.callWS({ type: "nvr/list" }).then((result) => {
        this._nvrs = result.nvrs;
        this._render();
      });
    }
  }

  _changed(changes) {
    const config = { ...this._config, ...changes };
    for (const [key, value] of Object.entries(config)) if (value === undefined) delete config[key];
    this._config = config;
    this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
    this._render();
  }

  _select(name, value, options) {
    const label = element("label", "field");
    label.append(element("span", "label", tr(this._hass, name === "entry_id" ? "nvr" : name)));
    const select = element("select");
    select.name = name;
    for (const [optionValue, text] of options) {
      const option = element("option", undefined, text);
      option.value = optionValue;
      option.selected = optionValue === value;
      select.append(option);
    }
    select.addEventListener("change", () => this._changed({ [name]: select.value }));
    label.append(select);
    return label;
  }

  _render() {
    const hass = this._hass;
    const root = this.shadowRoot;
    root.innerHTML = "";
    const style = element("style");
    style.textContent = `
      .field { display: flex; flex-direction: column; margin-bottom: 12px; gap: 4px; }
      .label { font-weight: 500; }
      select { padding: 6px; font: inherit; }
      .channel { display: flex; align-items: center; gap: 8px; padding: 2px 0; }
      .channel span { flex: 1; }
      button { font: inherit; padding: 2px 8px; }
    `;
    root.append(style);
    if (!this._nvrs) {
      root.append(element("div", undefined, tr(hass, "loading")));
      return;
    }
    if (!this._nvrs.length) {
      root.append(element("div", undefined, tr(hass, "no_nvr")));
      return;
    }
    const nvr = this._nvrs.find((n) => n.entry_id === this._config.entry_id) || this._nvrs[0];
    root.append(
      this._select("entry_id", nvr.entry_id, this._nvrs.map((n) => [n.entry_id, n.name])),
      this._select("layout", String(this._config.layout ?? "auto"), [
        ["auto", tr(hass, "layout_auto")],
        ...Object.keys(LAYOUTS).map((size) => [size, size]),
      ]),
      this._select("mode", this._config.mode === "stills" ? "stills" : "live", [
        ["live", tr(hass, "mode_live")],
        ["stills", tr(hass, "mode_stills")],
      ]),
      this._select("stream", this._config.stream ?? "auto", [
        ["auto", tr(hass, "stream_auto")],
        ["main", tr(hass, "stream_main")],
        ["sub", tr(hass, "stream_sub")],
      ]),
    );
    const picked = Array.isArray(this._config.channels) ? this._config.channels.filter((id) => nvr.channels.some((c) => c.id === id)) : [];
    const ordered = [...picked.map((id) => nvr.channels.find((c) => c.id === id)), ...nvr.channels.filter((c) => !picked.includes(c.id))];
    const list = element("div", "field");
    list.append(element("span", "label", tr(hass, "channels")));
    ordered.forEach((channel, index) => {
      const row = element("label", "channel");
      const box = element("input");
      box.type = "checkbox";
      box.checked = picked.includes(channel.id);
      box.addEventListener("change", () => {
        const next = box.checked ? [...picked, channel.id] : picked.filter((id) => id !== channel.id);
        this._changed({ channels: next.length ? next : undefined });
      });
      row.append(box, element("span", undefined, channel.name));
      if (box.checked) {
        for (const [key, step] of [["up", -1], ["down", 1]]) {
          const button = element("button", undefined, key === "up" ? "↑" : "↓");
          button.title = tr(hass, key);
          button.type = "button";
          button.disabled = index + step < 0 || index + step >= picked.length;
          button.addEventListener("click", (ev) => {
            ev.preventDefault();
            const next = [...picked];
            [next[index], next[index + step]] = [next[index + step], next[index]];
            this._changed({ channels: next });
          });
          row.append(button);
        }
      }
      list.append(row);
    });
    root.append(list);
    if (this._config.entry_id !== nvr.entry_id) this._config.entry_id = nvr.entry_id;
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
