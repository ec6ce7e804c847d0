// The NVR page's time bar: one row per channel over a day, footage as bars, events as marks.
//
// Zoom with the wheel or a pinch (around the pointer, down to MIN_VIEW seconds across the bar); pan by
// dragging or with the arrow keys (+ and - zoom). A click (a press that does not move) fires "seek"
// with the moment under the pointer. In selection mode (or with Shift held) a drag selects a span and
// fires "select". Hovering or tapping an event mark shows its time, kind and thumbnail. Marks are
// coloured by kind (motion, manual, and object detection's person, vehicle, bicycle, animal); ``kinds``
// limits which are shown. A smart search's matches (yellow) and the footage it could not look at (hatched:
// not indexed) show on the row of the channel searched (``search``).
// Times are shown in Home Assistant's time zone.

import { el } from "./nvr-dom.js";
import { EVENT_KINDS, shown } from "./nvr-event-filter.js";

const MIN_VIEW = 60;
const DRAG_PX = 4;
const LABEL_WIDTH = 140;

const STYLE = `
  :host { display: block; user-select: none; -webkit-user-select: none; font-size: 12px; color: var(--primary-text-color, #eee); }
  .bar { display: grid; grid-template-columns: ${LABEL_WIDTH}px 1fr; }
  .labels .label { height: 28px; display: flex; align-items: center; gap: 6px; padding: 0 6px; overflow: hidden;
    white-space: nowrap; border-bottom: 1px solid rgba(127,127,127,.2); cursor: pointer; }
  .labels .label span { overflow: hidden; text-overflow: ellipsis; }
  .labels .ruler-gap { height: 24px; }
  .track { position: relative; overflow: hidden; outline: none; touch-action: none; cursor: grab; }
  .track:focus-visible { box-shadow: inset 0 0 0 2px var(--primary-color, #03a9f4); }
  .track.dragging { cursor: grabbing; }
  .track.selecting { cursor: crosshair; }
  .ruler { position: relative; height: 24px; border-bottom: 1px solid rgba(127,127,127,.4); }
  .tick { position: absolute; top: 0; bottom: 0; border-left: 1px solid rgba(127,127,127,.5); padding-left: 3px;
    font-size: 11px; color: var(--secondary-text-color, #aaa); white-space: nowrap; }
  .row { position: relative; height: 28px; border-bottom: 1px solid rgba(127,127,127,.2); }
  .row.selected { background: rgba(3,169,244,.08); }
  .span { position: absolute; top: 7px; height: 14px; background: #2e7d32; border-radius: 2px; min-width: 1px; }
  .mark { position: absolute; top: 3px; width: 6px; height: 22px; margin-left: -3px; border-radius: 2px; cursor: pointer; z-index: 2; }
  .mark.motion { background: #ff9800; }
  .mark.manual { background: #42a5f5; }
  .mark.person { background: #ef5350; }
  .mark.vehicle { background: #26c6da; }
  .mark.bicycle { background: #9ccc65; }
  .mark.animal { background: #a1887f; }
  .mark.other { background: #ab47bc; }
  .playhead { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px; background: #e53935; z-index: 3;
    pointer-events: none; }
  .now { position: absolute; top: 0; bottom: 0; width: 0; border-left: 1px dashed #fdd835; z-index: 1; pointer-events: none; }
  .selection { position: absolute; top: 0; bottom: 0; background: rgba(3,169,244,.25); border-left: 2px solid #03a9f4;
    border-right: 2px solid #03a9f4; z-index: 1; pointer-events: none; }
  .tip { position: fixed; z-index: 10; background: #1c1f24; color: #eee; padding: 6px; border-radius: 4px;
    box-shadow: 0 2px 8px rgba(0,0,0,.5); pointer-events: none; font-size: 12px; }
  .tip img { display: block; width: 160px; margin-top: 4px; border-radius: 2px; }
  .found { position: absolute; top: 1px; bottom: 1px; background: rgba(255,235,59,.45); border: 1px solid #fdd835;
    border-radius: 2px; min-width: 2px; box-sizing: border-box; z-index: 1; pointer-events: none; }
  .unindexed { position: absolute; top: 7px; height: 14px; min-width: 1px; pointer-events: none;
    background: repeating-linear-gradient(45deg, rgba(189,189,189,.75) 0 3px, rgba(0,0,0,.35) 3px 6px); }
  .hidden { display: none !important; }
`;

const TICK_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];
const TICK_PX = 64; // room for one tick's label, "05:14:30" included

export class NvrTimeline extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.channels = [];
    this.selected = [];
    this.start = 0;
    this.end = 86400;
    this.view = [0, 86400];
    this.playhead = null;
    this.selection = null;
    this.selecting = false;
    this.timeZone = undefined;
    this.locale = "en";
    this.labels = { motion: "Motion", manual: "Manual" };
    this.kinds = null; // the event kinds marked (null: all)
    this.search = null; // a smart search's {channel, matches, notIndexed}, shown on that channel's row
    this._pointers = new Map();
    this._frame = null;
  }

  connectedCallback() {
    if (this._track) {
      this._resize.observe(this._track);
      return;
    }
    const style = el("style");
    style.textContent = STYLE;
    const bar = el("div", "bar");
    this._labels = el("div", "labels");
    this._track = el("div", "track");
    this._track.tabIndex = 0;
    this._ruler = el("div", "ruler");
    this._rows = el("div", "rows");
    this._selection = el("div", "selection hidden");
    this._now = el("div", "now hidden");
    this._playhead = el("div", "playhead hidden");
    this._track.append(this._ruler, this._rows, this._selection, this._now, this._playhead);
    bar.append(this._labels, this._track);
    this._tip = el("div", "tip hidden");
    this.shadowRoot.append(style, bar, this._tip);
    this._track.addEventListener("pointerdown", (e) => this._down(e));
    this._track.addEventListener("pointermove", (e) => this._move(e));
    this._track.addEventListener("pointerup", (e) => this._up(e));
    this._track.addEventListener("pointercancel", (e) => this._pointers.delete(e.pointerId));
    this._track.addEventListener("wheel", (e) => this._wheel(e), { passive: false });
    this._track.addEventListener("keydown", (e) => this._key(e));
    this._track.addEventListener("pointerleave", () => this._tip.classList.add("hidden"));
    // The ruler's tick count follows the bar's width (a phone shows fewer).
    this._resize = new ResizeObserver(() => this.render());
    this._resize.observe(this._track);
    this.render();
  }

  disconnectedCallback() {
    this._resize.disconnect();
  }

  /** Set the day's data: {start, end, now, channels: [{id, name, spans, events}]}. */
  setData(data, keepView = false) {
    const changedDay = data.start !== this.start || data.end !== this.end;
    this.start = data.start;
    this.end = data.end;
    this.nowTime = data.now;
    this.channels = data.channels;
    if (changedDay && !keepView) this.view = [this.start, this.end];
    this.render();
  }

  /** Show ``wall`` (epoch s) in view, zoomed so that ``seconds`` fit across the bar. */
  focus(wall, seconds) {
    const half = Math.max(MIN_VIEW, seconds) / 2;
    this._setView(wall - half, wall + half);
  }

  setPlayhead(wall) {
    this.playhead = wall;
    // Keep the playhead in view as it moves (unless the user is dragging).
    if (wall != null && !this._drag && (wall < this.view[0] || wall > this.view[1])) {
      const width = this.view[1] - this.view[0];
      this._setView(wall - width * 0.1, wall + width * 0.9);
    } else {
      this._place();
    }
  }

  setSelection(span) {
    this.selection = span;
    this._place();
  }

  timeAt(clientX) {
    const rect = this._track.getBoundingClientRect();
    const x = Math.min(Math.max(clientX - rect.left, 0), rect.width);
    return this.view[0] + (x / Math.max(1, rect.width)) * (this.view[1] - this.view[0]);
  }

  _x(wall) {
    return ((wall - this.view[0]) / (this.view[1] - this.view[0])) * 100;
  }

  _setView(a, b) {
    const width = Math.min(Math.max(b - a, MIN_VIEW), this.end - this.start);
    let start = Math.min(Math.max(a, this.start), this.end - width);
    if (!Number.isFinite(start)) start = this.start;
    this.view = [start, start + width];
    this.render();
  }

  _format(wall, seconds = false) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: this.timeZone };
    if (seconds) options.second = "2-digit";
    return new Intl.DateTimeFormat(this.locale, options).format(new Date(wall * 1000));
  }

  render() {
    if (!this._track || this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = null;
      this._render();
    });
  }

  _render() {
    const [a, b] = this.view;
    const width = b - a;
    this._labels.innerHTML = "";
    this._labels.append(el("div", "ruler-gap"));
    this._ruler.innerHTML = "";
    const most = Math.max(2, Math.min(12, Math.floor((this._track.clientWidth || 800) / TICK_PX)));
    const step = TICK_STEPS.find((s) => width / s <= most) || TICK_STEPS[TICK_STEPS.length - 1];
    // Ticks on round local times: counted from the day's start (local midnight).
    for (let t = this.start + Math.ceil((a - this.start) / step) * step; t <= b; t += step) {
      const tick = el("div", "tick", this._format(t, step < 60));
      tick.style.left = `${this._x(t)}%`;
      this._ruler.append(tick);
    }
    this._rows.innerHTML = "";
    for (const channel of this.channels) {
      const label = el("label", "label");
      const box = el("input");
      box.type = "checkbox";
      box.checked = this.selected.includes(channel.id);
      box.addEventListener("change", () =>
        this.dispatchEvent(new CustomEvent("toggle", { detail: { channel: channel.id, checked: box.checked, box } })),
      );
      label.append(box, el("span", "", channel.name));
      label.title = channel.name;
      label.dataset.channel = channel.id;
      this._labels.append(label);
      const row = el("div", "row");
      row.dataset.channel = channel.id;
      if (this.selected.includes(channel.id)) {
        row.classList.add("selected");
        label.style.fontWeight = "600";
      }
      for (const [s, e] of channel.spans) {
        if (e < a || s > b) continue;
        const span = el("div", "span");
        span.style.left = `${this._x(Math.max(s, a))}%`;
        span.style.width = `${this._x(Math.min(e, b)) - this._x(Math.max(s, a))}%`;
        row.append(span);
      }
      const search = this.search && this.search.channel === channel.id ? this.search : null;
      for (const [s, e] of search ? search.notIndexed : []) this._band(row, "unindexed", s, e, a, b);
      for (const match of search ? search.matches : []) this._band(row, "found", match.start, match.end, a, b);
      for (const event of channel.events) {
        if (event.start < a || event.start > b || !shown(this.kinds, event.kind)) continue;
        const kind = EVENT_KINDS.includes(event.kind) ? event.kind : "other";
        const mark = el("div", `mark ${kind}`);
        mark.style.left = `${this._x(event.start)}%`;
        mark.dataset.event = event.id;
        mark.addEventListener("pointerenter", (e) => this._showTip(e, channel, event));
        mark.addEventListener("pointerleave", () => this._tip.classList.add("hidden"));
        row.append(mark);
      }
      this._rows.append(row);
    }
    this._place();
  }

  /** A band from ``s`` to ``e`` on a row (smart search: matches, footage not indexed), within the view [a, b]. */
  _band(row, className, s, e, a, b) {
    if (e < a || s > b) return;
    const band = el("div", className);
    band.style.left = `${this._x(Math.max(s, a))}%`;
    band.style.width = `${this._x(Math.min(e, b)) - this._x(Math.max(s, a))}%`;
    row.append(band);
  }

  _place() {
    if (!this._track) return;
    const [a, b] = this.view;
    const show = (node, wall) => {
      const visible = wall != null && wall >= a && wall <= b;
      node.classList.toggle("hidden", !visible);
      if (visible) node.style.left = `${this._x(wall)}%`;
    };
    show(this._playhead, this.playhead);
    show(this._now, this.nowTime);
    const sel = this.selection;
    this._selection.classList.toggle("hidden", !sel || sel[1] < a || sel[0] > b);
    if (sel) {
      this._selection.style.left = `${this._x(Math.max(sel[0], a))}%`;
      this._selection.style.width = `${this._x(Math.min(sel[1], b)) - this._x(Math.max(sel[0], a))}%`;
    }
    this._track.classList.toggle("selecting", this.selecting);
  }

  _showTip(e, channel, event) {
    const tip = this._tip;
    tip.innerHTML = "";
    const kind = this.labels[event.kind] || event.kind;
    tip.append(el("div", "", `${channel.name} · ${kind} · ${this._format(event.start, true)}`));
    if (event.thumbnail) {
      const img = el("img");
      img.src = event.thumbnail;
      img.alt = kind;
      tip.append(img);
    }
    tip.style.left = `${Math.min(e.clientX + 12, window.innerWidth - 190)}px`;
    tip.style.top = `${Math.max(e.clientY - 140, 4)}px`;
    tip.classList.remove("hidden");
  }

  _down(e) {
    this._track.focus();
    this._track.setPointerCapture(e.pointerId);
    this._pointers.set(e.pointerId, e.clientX);
    if (this._pointers.size === 2) {
      const [x1, x2] = [...this._pointers.values()];
      this._pinch = { distance: Math.abs(x1 - x2) || 1, view: [...this.view], center: this.timeAt((x1 + x2) / 2) };
      this._drag = null;
      return;
    }
    const mark = e.target.closest && e.target.closest(".mark");
    this._drag = {
      x: e.clientX,
      view: [...this.view],
      moved: false,
      select: this.selecting || e.shiftKey,
      anchor: this.timeAt(e.clientX),
      mark,
    };
  }

  _move(e) {
    if (!this._pointers.has(e.pointerId)) return;
    this._pointers.set(e.pointerId, e.clientX);
    if (this._pinch && this._pointers.size === 2) {
      const [x1, x2] = [...this._pointers.values()];
      const scale = this._pinch.distance / (Math.abs(x1 - x2) || 1);
      this._zoomAround(this._pinch.center, scale, this._pinch.view);
      return;
    }
    const drag = this._drag;
    if (!drag) return;
    if (!drag.moved && Math.abs(e.clientX - drag.x) < DRAG_PX) return;
    drag.moved = true;
    if (drag.select) {
      const here = this.timeAt(e.clientX);
      this.setSelection([Math.min(drag.anchor, here), Math.max(drag.anchor, here)]);
      return;
    }
    this._track.classList.add("dragging");
    const rect = this._track.getBoundingClientRect();
    const shift = ((e.clientX - drag.x) / Math.max(1, rect.width)) * (drag.view[1] - drag.view[0]);
    this._setView(drag.view[0] - shift, drag.view[1] - shift);
  }

  _up(e) {
    this._pointers.delete(e.pointerId);
    this._track.classList.remove("dragging");
    if (this._pinch) {
      if (this._pointers.size < 2) this._pinch = null;
      return;
    }
    const drag = this._drag;
    this._drag = null;
    if (!drag) return;
    if (drag.moved && drag.select && this.selection) {
      this.dispatchEvent(new CustomEvent("select", { detail: { start: this.selection[0], end: this.selection[1] } }));
    } else if (!drag.moved) {
      if (drag.mark && e.pointerType !== "mouse") return; // a tap on a mark shows its tip
      this.dispatchEvent(new CustomEvent("seek", { detail: { wall: this.timeAt(e.clientX) } }));
    }
  }

  _zoomAround(center, scale, view = this.view) {
    const [a, b] = view;
    const width = Math.min(Math.max((b - a) * scale, MIN_VIEW), this.end - this.start);
    const ratio = (center - a) / (b - a);
    this._setView(center - ratio * width, center - ratio * width + width);
  }

  _wheel(e) {
    e.preventDefault();
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const width = this.view[1] - this.view[0];
      const shift = (e.deltaX / Math.max(1, this._track.clientWidth)) * width;
      this._setView(this.view[0] + shift, this.view[1] + shift);
      return;
    }
    this._zoomAround(this.timeAt(e.clientX), Math.exp(e.deltaY * 0.0015));
  }

  _key(e) {
    const width = this.view[1] - this.view[0];
    const center = (this.view[0] + this.view[1]) / 2;
    const actions = {
      ArrowLeft: () => this._setView(this.view[0] - width * 0.1, this.view[1] - width * 0.1),
      ArrowRight: () => this._setView(this.view[0] + width * 0.1, this.view[1] + width * 0.1),
      "+": () => this._zoomAround(this.playhead ?? center, 0.5),
      "=": () => this._zoomAround(this.playhead ?? center, 0.5),
      "-": () => this._zoomAround(this.playhead ?? center, 2),
    };
    if (actions[e.key]) {
      e.preventDefault();
      actions[e.key]();
    }
  }
}

