// Smart search on the NVR page: draw a region over a channel's picture and find every moment something
// moved there on the day shown (nvr/search, from the integration's activity index).
//
// Rectangles are dragged; a polygon is clicked point by point and closed on its first point (or by a double
// click). The matches show on the channel's bar (yellow, with footage never analysed hatched: "not indexed")
// and as a list with a picture and the times. Play results plays each match at 1× and runs through the rest
// at 16×, as an NVR does; a match can be played or exported from the list.

import { el, icon } from "./nvr-dom.js";
import { tr } from "./nvr-panel-strings.js";

const SVG = "http://www.w3.org/2000/svg";
const FAST = 16;
const LAND = 8; // seconds before a match at which fast playback jumps onto its start
const CLOSE = 0.03; // a click this near the first point closes a polygon (picture widths)
const MIN_SIZES = [
  [0, "size_any"],
  [0.5, "size_small"], // 3 cells of the 32 x 18 grid: a person far off
  [2, "size_medium"],
  [5, "size_large"], // a person close by, a car
];
const LABELS = ["person", "vehicle"];

export class SmartSearch {
  constructor(panel) {
    this.panel = panel;
    this.shapes = []; // polygons of [x, y] in 0..1
    this.result = null;
    this.playing = false;
    this.node = el("div", "search hidden");
    this._build();
  }

  get hass() {
    return this.panel.hass;
  }

  _build() {
    const t = (key, values) => tr(this.hass, key, values);
    const head = el("div", "search-head");
    this.channelSelect = el("select", "search-channel");
    this.channelSelect.addEventListener("change", () => this._loadPicture());
    const close = el("button", "icon close");
    close.append(icon("mdi:close"));
    close.title = t("close");
    close.addEventListener("click", () => this.toggle(false));
    head.append(el("span", "search-title", t("smart_search")), this.channelSelect, close);

    this.stage = el("div", "stage");
    this.picture = el("img", "picture");
    this.picture.alt = "";
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("viewBox", "0 0 1 1");
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.classList.add("draw");
    this.svg.addEventListener("pointerdown", (e) => this._down(e));
    this.svg.addEventListener("pointermove", (e) => this._move(e));
    this.svg.addEventListener("pointerup", (e) => this._up(e));
    this.svg.addEventListener("dblclick", () => this._closePolygon());
    this.stage.append(this.picture, this.svg);

    const tools = el("div", "search-tools");
    this.rectButton = this._tool("mdi:rectangle-outline", t("draw_rectangle"), () => this._mode("rect"));
    this.polyButton = this._tool("mdi:vector-polygon", t("draw_polygon"), () => this._mode("poly"));
    const clear = this._tool("mdi:eraser", t("clear_region"), () => this.clear());
    this.sizeSelect = el("select", "min-size");
    this.sizeSelect.title = t("min_size");
    for (const [value, key] of MIN_SIZES) {
      const option = el("option", "", `${t("min_size")}: ${t(key)}`);
      option.value = String(value);
      this.sizeSelect.append(option);
    }
    this.labelBoxes = LABELS.map((label) => {
      const box = el("input");
      box.type = "checkbox";
      box.value = label;
      const wrap = el("label", "label-box");
      wrap.append(box, el("span", "", t(label)));
      return wrap;
    });
    this.searchButton = el("button", "run", t("search"));
    this.searchButton.addEventListener("click", () => this.run());
    this.playButton = el("button", "play-results", t("play_results"));
    this.playButton.addEventListener("click", () => this.playResults());
    tools.append(this.rectButton, this.polyButton, clear, this.sizeSelect, ...this.labelBoxes);
    tools.append(this.searchButton, this.playButton);

    this.summary = el("div", "search-summary");
    this.list = el("div", "matches");
    const side = el("div", "search-side");
    side.append(tools, this.summary, this.list);
    const body = el("div", "search-body");
    body.append(this.stage, side);
    this.node.append(head, body);
    this._mode("rect");
    this._draw();
  }

  _tool(name, title, onClick) {
    const button = el("button", "icon");
    button.append(icon(name));
    button.title = title;
    button.setAttribute("aria-label", title);
    button.addEventListener("click", onClick);
    return button;
  }

  _mode(mode) {
    this.mode = mode;
    this.pending = null;
    this.rectButton.setAttribute("aria-pressed", String(mode === "rect"));
    this.polyButton.setAttribute("aria-pressed", String(mode === "poly"));
    this._draw();
  }

  get open() {
    return !this.node.classList.contains("hidden");
  }

  /** Show or hide the pane; it searches the first channel playing, or the first of the NVR. */
  toggle(show = !this.open) {
    this.node.classList.toggle("hidden", !show);
    if (!show) {
      this.stopPlaying();
      return;
    }
    const channels = (this.panel._data && this.panel._data.channels) || [];
    const chosen = this.channelSelect.value;
    this.channelSelect.innerHTML = "";
    for (const channel of channels) {
      const option = el("option", "", channel.name);
      option.value = channel.id;
      this.channelSelect.append(option);
    }
    const playing = this.panel._selected[0];
    const pick = [chosen, playing].find((id) => channels.some((c) => c.id === id));
    if (pick) this.channelSelect.value = pick;
    this._loadPicture();
  }

  get channelId() {
    return this.channelSelect.value;
  }

  /** The channel's live picture to draw on (a deleted channel: its last recorded one). */
  async _loadPicture() {
    const entry = this.panel._entryId;
    const channel = this.channelId;
    if (!entry || !channel) return;
    const data = this.panel._data;
    const found = data && data.channels.find((c) => c.id === channel);
    const last = found && found.spans.length ? found.spans[found.spans.length - 1][1] - 1 : null;
    const path =
      found && found.removed && last != null
        ? `/api/nvr/${entry}/${channel}/frame/${Math.round(last * 1000)}.jpg`
        : `/api/nvr/${entry}/${channel}/still/main.jpg`;
    try {
      const signed = await this.hass.callWS({ type: "auth/sign_path", path, expires: 300 });
      this.picture.src = this.hass.hassUrl ? this.hass.hassUrl(signed.path) : signed.path;
    } catch (err) {
      this.summary.textContent = (err && err.message) || String(err);
    }
  }

  _point(e) {
    const box = this.svg.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    const y = Math.min(1, Math.max(0, (e.clientY - box.top) / box.height));
    return [Number(x.toFixed(4)), Number(y.toFixed(4))];
  }

  _down(e) {
    const p = this._point(e);
    if (this.mode === "rect") {
      this.svg.setPointerCapture(e.pointerId);
      this.pending = { from: p, to: p };
    } else {
      const points = (this.pending && this.pending.points) || [];
      const first = points[0];
      if (first && points.length >= 3 && Math.hypot(p[0] - first[0], p[1] - first[1]) < CLOSE) {
        this._closePolygon();
        return;
      }
      this.pending = { points: [...points, p] };
    }
    this._draw();
  }

  _move(e) {
    if (this.mode === "rect" && this.pending) {
      this.pending.to = this._point(e);
      this._draw();
    }
  }

  _up(e) {
    if (this.mode !== "rect" || !this.pending) return;
    const { from } = this.pending;
    const to = this._point(e);
    this.pending = null;
    if (Math.abs(to[0] - from[0]) > 0.01 && Math.abs(to[1] - from[1]) > 0.01) {
      const [x0, x1] = [Math.min(from[0], to[0]), Math.max(from[0], to[0])];
      const [y0, y1] = [Math.min(from[1], to[1]), Math.max(from[1], to[1])];
      this.shapes.push([
        [x0, y0],
        [x1, y0],
        [x1, y1],
        [x0, y1],
      ]);
    }
    this._draw();
  }

  _closePolygon() {
    const points = this.pending && this.pending.points;
    if (points && points.length >= 3) this.shapes.push(points);
    this.pending = null;
    this._draw();
  }

  /** Another NVR was chosen: the results go, and an open pane lists the new NVR's channels. */
  reset() {
    this.stopPlaying();
    this.result = null;
    this.summary.textContent = "";
    this.channelSelect.innerHTML = "";
    this._show();
    if (this.open) this.toggle(true);
  }

  clear() {
    this.shapes = [];
    this.pending = null;
    this._draw();
  }

  _draw() {
    this.svg.innerHTML = "";
    const polygon = (points, cls) => {
      const node = document.createElementNS(SVG, points.length > 2 ? "polygon" : "polyline");
      node.setAttribute("points", points.map(([x, y]) => `${x},${y}`).join(" "));
      node.setAttribute("class", cls);
      node.setAttribute("vector-effect", "non-scaling-stroke");
      this.svg.append(node);
    };
    for (const shape of this.shapes) polygon(shape, "shape");
    const pending = this.pending;
    if (pending && pending.from) {
      const [a, b] = [pending.from, pending.to];
      polygon([a, [b[0], a[1]], b, [a[0], b[1]]], "shape pending");
    } else if (pending && pending.points) {
      polygon(pending.points, "shape pending");
    }
    this.searchButton.disabled = !this.shapes.length;
    this.playButton.disabled = !(this.result && this.result.matches.length);
  }

  /** Search the day shown for the region drawn. */
  async run() {
    const data = this.panel._data;
    if (!this.shapes.length || !data) return;
    const t = (key, values) => tr(this.hass, key, values);
    this.summary.textContent = t("searching");
    this.stopPlaying();
    const labels = this.labelBoxes.map((w) => w.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
    try {
      this.result = await this.hass.callWS({
        type: "nvr/search",
        entry_id: this.panel._entryId,
        channel: this.channelId,
        start: data.start,
        end: Math.min(data.end, data.now),
        region: this.shapes,
        min_size: Number(this.sizeSelect.value),
        labels,
      });
    } catch (err) {
      this.result = null;
      this.summary.textContent = (err && err.message) || String(err);
      this._show();
      return;
    }
    const count = this.result.matches.length;
    if (count) {
      // The bar zooms onto the matches (a day is too wide to see a few seconds).
      const first = this.result.matches[0].start;
      const last = this.result.matches[count - 1].end;
      this.panel._timeline.focus((first + last) / 2, Math.max(120, (last - first) * 1.2));
    }
    const unindexed = this.result.not_indexed.length ? ` ${t("not_indexed_note")}` : "";
    const shown = this.result.truncated ? `${count}+` : count;
    this.summary.textContent = `${count ? t("matches", { count: shown }) : t("no_matches")}${unindexed}`;
    this._show();
  }

  _show() {
    const result = this.result;
    this.panel._timeline.search = result
      ? { channel: result.channel, matches: result.matches, notIndexed: result.not_indexed }
      : null;
    this.panel._timeline.render();
    this.list.innerHTML = "";
    for (const match of result ? result.matches : []) {
      const item = el("div", "match");
      const img = el("img");
      img.loading = "lazy";
      img.src = match.thumbnail;
      img.alt = "";
      const text = el("div", "match-text");
      const time = el("div", "match-time", `${this._time(match.start)} – ${this._time(match.end)}`);
      text.append(time);
      if (match.labels.length) {
        text.append(el("div", "match-labels", match.labels.map((l) => tr(this.hass, l)).join(", ")));
      }
      const play = this._tool("mdi:play", tr(this.hass, "play"), () => this.panel.seek(match.start));
      const save = this._tool("mdi:download", tr(this.hass, "export"), () => this.exportMatch(match));
      item.append(img, text, play, save);
      item.addEventListener("click", (e) => {
        if (e.target === item || e.target === img || text.contains(e.target)) this.panel.seek(match.start);
      });
      this.list.append(item);
    }
    this._draw();
  }

  _time(wall) {
    return this.panel._format(wall).split(" ").pop();
  }

  exportMatch(match) {
    const channel = this.panel._data && this.panel._data.channels.find((c) => c.id === this.result.channel);
    if (!channel) return undefined;
    this.panel._selection = [match.start, match.end];
    this.panel._timeline.setSelection([match.start, match.end]);
    return this.panel.exportChannels([channel]);
  }

  /** Play the matches at 1×, and what lies between them at 16×. */
  async playResults() {
    const result = this.result;
    if (!result || !result.matches.length) return;
    if (!this.panel._selected.includes(result.channel)) {
      this.panel._selected = [result.channel];
      this.panel._timeline.selected = this.panel._selected;
      this.panel._timeline.render();
    }
    this.playing = true;
    this.playButton.setAttribute("aria-pressed", "true");
    this.panel._setSpeed(1);
    await this.panel.seek(result.matches[0].start);
  }

  stopPlaying() {
    if (!this.playing) return;
    this.playing = false;
    this.playButton.setAttribute("aria-pressed", "false");
    this.panel._setSpeed(1);
  }

  /** Called on every tick of playback: the speed for where the clock is. */
  drive(playback) {
    if (!this.playing || !this.result || playback.wall == null) return;
    const wall = playback.wall;
    const matches = this.result.matches;
    const inside = matches.find((m) => m.start - 0.5 <= wall && wall < m.end);
    if (inside) {
      if (playback.speed !== 1) this.panel._setSpeed(1);
      return;
    }
    const next = matches.find((m) => m.start > wall);
    if (!next) {
      this.stopPlaying();
      playback.setPlaying(false);
      this.panel._updatePlayButton();
      this.panel._statusText.textContent = tr(this.hass, "results_played");
      return;
    }
    if (next.start - wall <= LAND) {
      this.panel._setSpeed(1);
      this.panel.seek(next.start);
      return;
    }
    if (playback.speed !== FAST) this.panel._setSpeed(FAST);
  }
}

export const SEARCH_STYLE = `
  .search { border-bottom: 1px solid rgba(127,127,127,.3); padding: 8px 12px; background: var(--card-background-color, #1c1f24);
    max-height: 55vh; overflow-y: auto; }
  .search-head { display: flex; align-items: center; gap: 10px; margin-bottom: 6px; }
  .search-title { font-weight: 600; }
  .search-head .close { margin-left: auto; }
  .search-body { display: grid; grid-template-columns: minmax(240px, 480px) 1fr; gap: 12px; }
  .stage { position: relative; align-self: start; background: #000; line-height: 0; }
  .stage .picture { width: 100%; display: block; min-height: 120px; }
  .stage svg.draw { position: absolute; inset: 0; width: 100%; height: 100%; cursor: crosshair; touch-action: none; }
  .stage .shape { fill: rgba(255, 235, 59, .25); stroke: #ffeb3b; stroke-width: 2px; }
  .stage .shape.pending { fill: rgba(255, 235, 59, .12); stroke-dasharray: 4 3; }
  .search-tools { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
  .label-box { display: inline-flex; align-items: center; gap: 3px; }
  .search-summary { margin: 6px 0; font-size: 13px; color: var(--secondary-text-color, #aaa); }
  .matches { display: flex; flex-direction: column; gap: 4px; max-height: 260px; overflow-y: auto; }
  .match { display: grid; grid-template-columns: 96px 1fr auto auto; gap: 8px; align-items: center; cursor: pointer;
    padding: 2px; border-radius: 4px; }
  .match:hover { background: rgba(127,127,127,.15); }
  .match img { width: 96px; height: 54px; object-fit: cover; background: #000; border-radius: 2px; }
  .match-time { font-variant-numeric: tabular-nums; }
  .match-labels { font-size: 12px; color: var(--secondary-text-color, #aaa); }
  @media (max-width: 700px) { .search-body { grid-template-columns: 1fr; } }
`;
