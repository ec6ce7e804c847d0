// One screen of the NVR page's grid: the channel's player, its name and clock, and the notice over it
// (loading, no footage, a codec this browser cannot play).

import { el } from "./nvr-dom.js";
import { tr } from "./nvr-panel-strings.js";

const HEVC_TYPE = 'video/mp4; codecs="hvc1.1.6.L93.B0"';

/** Whether this browser can decode the codec (H.264 always; H.265 only where the platform has it). */
export function canDecode(codec) {
  if (codec !== "hevc" && codec !== "h265") return true;
  return Boolean(window.MediaSource && MediaSource.isTypeSupported(HEVC_TYPE));
}

/** One screen of the grid: what SyncPlayback needs of a tile. */
export class Screen {
  constructor(panel, channel) {
    this.node = el("div", "screen");
    this.node.dataset.channel = channel.id;
    this.media = el("div", "media");
    this.notice = el("div", "notice hidden");
    this.clock = el("div", "clock");
    this.node.append(this.media, this.notice, el("div", "name", channel.name), this.clock);
    this.panel = panel;
    this.channel = channel;
  }

  setState({ loading, noFootage }) {
    if (this._cannotPlay) return;
    const text = loading ? tr(this.panel.hass, "loading") : noFootage ? tr(this.panel.hass, "no_footage") : null;
    this.notice.classList.toggle("hidden", !text);
    if (text && this.notice.textContent !== text) this.notice.textContent = text;
  }

  cannotPlay(codec) {
    this._cannotPlay = true;
    this.notice.innerHTML = "";
    this.notice.classList.remove("hidden");
    this.notice.classList.add("cannot-play");
    const name = { hevc: "H.265", h265: "H.265" }[codec] || codec.toUpperCase();
    this.notice.append(el("div", "", tr(this.panel.hass, "cannot_play", { codec: name })));
    const button = el("button", "export", tr(this.panel.hass, "export"));
    button.addEventListener("click", () => this.panel.exportChannels([this.channel]));
    this.notice.append(button);
  }
}

