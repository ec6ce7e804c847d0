// The NVR wall card's visual editor: which NVR, the layout, live or stills, the stream, and which
// channels in which order. nvr-wall-card.js defines it and sets its ``layouts`` (the grid sizes).

import { el } from "./nvr-dom.js";
import { tr } from "./nvr-wall-strings.js";

export class NvrWallCardEditor extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._config = {};
    this._nvrs = null;
    this.layouts = [];
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
    const label = el("label", "field");
    label.append(el("span", "label", tr(this._hass, name === "entry_id" ? "nvr" : name)));
    const select = el("select");
    select.name = name;
    for (const [optionValue, text] of options) {
      const option = el("option", undefined, text);
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
    const style = el("style");
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
      root.append(el("div", undefined, tr(hass, "loading")));
      return;
    }
    if (!this._nvrs.length) {
      root.append(el("div", undefined, tr(hass, "no_nvr")));
      return;
    }
    const nvr = this._nvrs.find((n) => n.entry_id === this._config.entry_id) || this._nvrs[0];
    root.append(
      this._select("entry_id", nvr.entry_id, this._nvrs.map((n) => [n.entry_id, n.name])),
      this._select("layout", String(this._config.layout ?? "auto"), [
        ["auto", tr(hass, "layout_auto")],
        ...this.layouts.map((size) => [size, size]),
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
    const list = el("div", "field");
    list.append(el("span", "label", tr(hass, "channels")));
    ordered.forEach((channel, index) => {
      const row = el("label", "channel");
      const box = el("input");
      box.type = "checkbox";
      box.checked = picked.includes(channel.id);
      box.addEventListener("change", () => {
        const next = box.checked ? [...picked, channel.id] : picked.filter((id) => id !== channel.id);
        this._changed({ channels: next.length ? next : undefined });
      });
      row.append(box, el("span", undefined, channel.name));
      if (box.checked) {
        for (const [key, step] of [["up", -1], ["down", 1]]) {
          const button = el("button", undefined, key === "up" ? "↑" : "↓");
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
