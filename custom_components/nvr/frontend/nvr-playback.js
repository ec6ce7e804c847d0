// Synchronised playback of recorded channels on Home Assistant's own HLS player (ha-hls-player).
//
// Each channel plays a range playlist of the integration (/api/nvr/<entry>/<channel>/range/<a>-<b>.m3u8,
// signed with HA's auth/sign_path). The playlist closes up gaps in the footage and gives each file's wall
// time (EXT-X-PROGRAM-DATE-TIME), so a player's position maps to the clock and back (PlaylistMap).
//
// One clock leads: the first selected channel that has footage at the current moment. The others follow
// it: a small playback-rate nudge for small drift, a seek for a large one, paused where they have no
// footage. When every channel is in a gap the clock jumps to the next footage. Near the end of a range
// the next one is loaded into a hidden standby player and swapped in at its moment, so playback goes on
// across files, hours and days; a range that reaches now is a live playlist that grows.

import { Strain } from "./nvr-playback-strain.js";

export const RANGE_SECONDS = 3600;
const PRELOAD_BEFORE_END = 90;
const MIN_FINISHED_RANGE = 20; // seconds
const TICK_MS = 200;
const SEEK_DRIFT = 1.0; // seconds off the clock: seek
const NUDGE_DRIFT = 0.08; // seconds off the clock: nudge the rate
const LIVE_MARGIN = 3; // seconds behind now where faster playback falls back to 1x
const SIGN_SECONDS = 6 * 3600;

/** Parse a media playlist into parts: {pos, wall, dur} (seconds on the player's timeline, epoch seconds). */
export function parsePlaylist(text) {
  const parts = [];
  let pos = 0;
  let wall = null;
  let live = true;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) {
      wall = Date.parse(line.slice(25)) / 1000;
    } else if (line.startsWith("#EXTINF:")) {
      const dur = parseFloat(line.slice(8));
      parts.push({ pos, wall, dur });
      pos += dur;
      wall += dur;
    } else if (line === "#EXT-X-ENDLIST") {
      live = false;
    }
  }
  return { parts, live, duration: pos };
}

export class PlaylistMap {
  constructor(parsed) {
    this.parts = parsed.parts;
    this.live = parsed.live;
  }

  get start() {
    return this.parts.length ? this.parts[0].wall : null;
  }

  get end() {
    const last = this.parts[this.parts.length - 1];
    return last ? last.wall + last.dur : null;
  }

  /** Wall time shown at player position ``pos``. */
  wallAt(pos) {
    let part = this.parts[0];
    for (const p of this.parts) {
      if (p.pos > pos) break;
      part = p;
    }
    return part ? part.wall + Math.min(pos - part.pos, part.dur) : null;
  }

  /** Player position showing wall time ``wall``, or null where there is no footage. */
  posAt(wall) {
    for (const p of this.parts) {
      if (wall >= p.wall - 0.05 && wall < p.wall + p.dur) return p.pos + Math.max(0, wall - p.wall);
    }
    return null;
  }

  /** The first wall time with footage at or after ``wall`` (null: none in this range). */
  nextWall(wall) {
    for (const p of this.parts) {
      if (p.wall + p.dur > wall) return Math.max(p.wall, wall);
    }
    return null;
  }
}

const RATE = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "playbackRate");

/**
 * The playback rate is the page's clock's alone. HA's player runs hls.js, which on a live (EVENT)
 * playlist near its end speeds playback up to catch up with the live edge, and puts the rate back
 * to 1 elsewhere: that would undo 2x to 8x and make the leading channel's clock run fast. So the
 * video's own ``playbackRate`` ignores writes, and the page sets the rate through the prototype.
 */
function lockRate(video) {
  if (video._nvrRateLocked) return;
  Object.defineProperty(video, "playbackRate", {
    configurable: true,
    get() {
      return RATE.get.call(this);
    },
    set(_value) {},
  });
  video._nvrRateLocked = true;
}

function setRate(video, rate) {
  lockRate(video);
  if (Math.abs(RATE.get.call(video) - rate) > 0.001) RATE.set.call(video, rate);
}

function rangePath(entryId, channel, start, end) {
  return `/api/nvr/${entryId}/${channel}/range/${Math.floor(start)}-${Math.ceil(end)}.m3u8`;
}

export async function ensureHlsPlayer() {
  if (customElements.get("ha-hls-player")) return;
  if (window.loadCardHelpers) {
    const helpers = await window.loadCardHelpers();
    helpers.importMoreInfoControl("camera"); // defines ha-camera-stream, and the HLS player with it
  }
  await customElements.whenDefined("ha-hls-player");
}

/** One range of one channel in one ha-hls-player. */
class RangePlayer {
  constructor(hass, entryId, channel, start, end, host, expected, kick) {
    this.start = start;
    this.end = end;
    this.map = null;
    this.failed = false;
    this.prepared = false; // a standby player: sent to the moment of the swap
    this.placed = false; // it has shown the clock's moment (until then its picture is covered)
    this.element = document.createElement("ha-hls-player");
    this.element.className = "player";
    this.element.muted = true;
    this.element.playsInline = true;
    this.element.posterUrl = ""; // none: ha-hls-player gives its video this as the poster ("undefined" fetches /undefined)
    this.element.hass = hass; // HA 2025 reads it; HA 2026 takes what it needs from its context
    this._host = host; // the element joins it with its URL: a player in the page without one fetches "/undefined"
    this._kick = kick;
    this._load(hass, entryId, channel, expected);
  }

  /** Sign the playlist's path, then load it in the player and read its map at the same time.
   * Where the timeline shows no footage (``expected`` false), the player waits for the map: an
   * empty range would only make it retry a 404. */
  async _load(hass, entryId, channel, expected) {
    const signed = await hass.callWS({
      type: "auth/sign_path",
      path: rangePath(entryId, channel, this.start, this.end),
      expires: SIGN_SECONDS,
    });
    this.url = hass.hassUrl ? hass.hassUrl(signed.path) : signed.path;
    if (expected) this._play();
    await this.refresh();
    if (this.map && this.map.parts.length) this._play();
    this._kick();
  }

  /** Give the player its URL, then put it in the page (once). */
  _play() {
    if (this.destroyed || this.element.url) return;
    this.element.url = this.url;
    this._host.append(this.element);
  }

  async refresh() {
    try {
      const response = await fetch(this.url, { cache: "no-store" });
      if (response.status === 404) {
        this.map = new PlaylistMap({ parts: [], live: false });
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      this.map = new PlaylistMap(parsePlaylist(await response.text()));
      if (this.map.parts.length) this._play();
    } catch (_err) {
      this.failed = true;
    }
  }

  get video() {
    const root = this.element.shadowRoot;
    const video = root ? root.querySelector("video") : null;
    if (video && !video._nvrWatched) {
      // The clock reacts at once when a picture is ready, not at its next tick.
      video._nvrWatched = true;
      for (const name of ["loadedmetadata", "loadeddata", "canplay", "seeked"]) video.addEventListener(name, this._kick);
    }
    return video;
  }

  /** The player's own error (e.g. a codec the browser cannot decode). */
  get error() {
    const root = this.element.shadowRoot;
    const alert = root && root.querySelector("ha-alert.fatal");
    return alert ? alert.textContent.trim() : null;
  }

  covers(wall) {
    return this.map != null && this.map.posAt(wall) != null;
  }

  wallNow() {
    const video = this.video;
    return this.map && video ? this.map.wallAt(video.currentTime) : null;
  }

  destroy() {
    this.destroyed = true;
    this.element.remove();
  }
}

/** A channel's tile: its active range player, and the next one preloading. */
class ChannelPlayback {
  constructor(controller, channel, tile) {
    this.controller = controller;
    this.channel = channel;
    this.tile = tile;
    this.active = null;
    this.standby = null;
    this.parked = true;
    this.unplayable = false; // set by the page when the browser cannot decode the channel's codec
  }

  load(wall) {
    this.dispose();
    if (!this.unplayable) this.active = this._range(wall);
  }

  _range(wall) {
    const { hass, entryId } = this.controller;
    const start = Math.floor(wall);
    let end = start + this.controller.rangeSeconds;
    // A range up to now, not beyond, when that is long enough: a finished (VOD) playlist starts at
    // its first part, while a live one makes HA's player fetch its newest part first. The next
    // range, loaded in the background, is the live one.
    const now = Math.floor(this.controller.now()) - 1;
    if (end > now && now - start >= MIN_FINISHED_RANGE) end = now;
    const expected = this.controller.hasFootage(this.channel.id, start, end);
    return new RangePlayer(hass, entryId, this.channel.id, start, end, this.tile.media, expected, this.controller.kick);
  }

  dispose() {
    for (const player of [this.active, this.standby]) if (player) player.destroy();
    this.active = this.standby = null;
  }

  /** Follow the clock at ``wall``; ``leader`` plays at the set speed, the others keep up with it. */
  follow(wall, leader) {
    const { speed, playing } = this.controller;
    this._chain(wall);
    const player = this.active;
    const video = player && player.video;
    const pos = player && player.map ? player.map.posAt(wall) : null;
    if (!video || pos == null) {
      this.tile.setState({ loading: !player || !player.map, noFootage: player && player.map && pos == null });
      if (video && !video.paused) video.pause();
      this.parked = true;
      return;
    }
    const drift = video.currentTime - pos;
    if (this.parked || Math.abs(drift) > SEEK_DRIFT) {
      if (Math.abs(drift) > 0.04) video.currentTime = pos;
      this.parked = false;
    }
    // The player moves itself while it loads (hls.js starts where it likes, then seeks): it plays
    // only at the clock's moment, and its picture stays covered until it first got there. Later
    // seeks (a range swap, a nudge back on the clock) keep showing the picture they start from.
    const placed = video.readyState >= 2 && !video.seeking && Math.abs(video.currentTime - pos) <= SEEK_DRIFT;
    if (placed) player.placed = true;
    this.tile.setState({ loading: video.readyState < 2 || (!placed && !player.placed), noFootage: false });
    let rate = speed;
    if (!leader && Math.abs(drift) > NUDGE_DRIFT) rate = speed * Math.min(1.5, Math.max(0.5, 1 - drift / 2));
    setRate(video, rate);
    if (playing && placed && video.paused) video.play().catch(() => {});
    if ((!playing || !placed) && !video.paused) video.pause();
  }

  /** Preload the next range near the end of this one; swap it in when the clock reaches it. */
  _chain(wall) {
    const player = this.active;
    if (!player || !player.map) return;
    // A range's footage may end before the range does (and a live range's grows): the next range
    // is wanted once the clock nears the end of the footage this one can still show.
    const shown = player.map.live ? player.end : Math.min(player.end, player.map.end ?? player.start);
    const { rangeSeconds } = this.controller;
    const preload = Math.min(PRELOAD_BEFORE_END, rangeSeconds / 2);
    if (!this.standby && wall > shown - preload && player.end < this.controller.now() + rangeSeconds) {
      // The next range starts a few seconds early: its first part then shows the moment of the swap.
      this.standby = this._range(player.end - 10);
      this.standby.element.classList.add("standby");
    }
    const next = this.standby;
    // Have the standby player load the moment of the swap (where this range's footage ends), so the
    // swap shows its next picture at once.
    const swapAt = player.map.end ?? player.end;
    const early = next && next.map && next.video;
    if (early && !next.prepared && early.readyState >= 1 && next.map.posAt(swapAt) != null) {
      early.currentTime = next.map.posAt(swapAt);
      next.prepared = true;
    }
    if (next && next.map && !player.covers(wall) && next.covers(wall)) {
      player.destroy();
      next.element.classList.remove("standby");
      next.placed = next.prepared; // it waits at the moment of the swap
      this.active = next;
      this.standby = null;
      this.parked = true;
    }
  }

  wallNow() {
    return this.active ? this.active.wallNow() : null;
  }

  /** "ready" (shows ``wall`` now), "buffering" (has footage there, not loaded yet), "loading" or "none". */
  state(wall) {
    if (this.unplayable) return "none";
    const player = this.active;
    if (!player || (!player.map && !player.failed)) return "loading";
    if (player.error) return "none";
    if (!player.covers(wall)) {
      const next = this.standby;
      if (next && !next.map && !next.failed) return "loading";
      return "none";
    }
    const video = player.video;
    return video && video.readyState >= 2 ? "ready" : "buffering";
  }

  nextWall(wall) {
    const found = [this.active, this.standby]
      .filter((p) => p && p.map)
      .map((p) => p.map.nextWall(wall))
      .filter((w) => w != null);
    return found.length ? Math.min(...found) : null;
  }

  get error() {
    return this.active ? this.active.error : null;
  }
}

/**
 * The clock and the channels that follow it.
 * ``tiles``: per channel {media (element the players go in), setState({loading, noFootage})}.
 */
export class SyncPlayback {
  constructor(hass, entryId, onTick) {
    this.hass = hass;
    this.entryId = entryId;
    this.onTick = onTick;
    this.channels = [];
    this.rangeSeconds = RANGE_SECONDS; // each player's span; the next one is loaded as the clock nears its end
    this.speed = 1;
    this.playing = false;
    this.wall = null;
    this.leader = null;
    this._last = null;
    this._timer = null;
    this._refreshing = 0;
    this._kicked = false;
    /** What playback reaches, and whether it says "catching up" (nvr-playback-strain.js). */
    this.strain = new Strain();
    this.kick = () => {
      if (this._kicked) return;
      this._kicked = true;
      setTimeout(() => {
        this._kicked = false;
        this._tick();
      }, 0);
    };
  }

  now() {
    return Date.now() / 1000;
  }

  async setChannels(channels, tiles) {
    await ensureHlsPlayer();
    for (const playback of this.channels) playback.dispose();
    this.channels = channels.map((channel, i) => new ChannelPlayback(this, channel, tiles[i]));
    if (this.wall != null) this.seek(this.wall);
  }

  /** Play every channel from ``wall`` (epoch seconds). */
  seek(wall) {
    this.wall = wall;
    this.leader = null;
    this._last = null;
    for (const playback of this.channels) playback.load(wall);
    this.playing = true;
    this.strain.reset();
    this._start();
  }

  setSpeed(speed) {
    if (speed !== this.speed) this.strain.reset();
    this.speed = speed;
  }

  setPlaying(playing) {
    this.playing = playing;
    this._last = null;
    this.strain.reset();
  }

  stop() {
    clearInterval(this._timer);
    this._timer = null;
    for (const playback of this.channels) playback.dispose();
    this.channels = [];
  }

  _start() {
    if (this._timer == null) this._timer = setInterval(() => this._tick(), TICK_MS);
  }

  _tick() {
    if (this.wall == null) return;
    const now = performance.now();
    const elapsed = this._last == null || !this.playing ? 0 : ((now - this._last) / 1000) * this.speed;
    this._last = now;
    const expected = this.wall + elapsed;
    const states = new Map(this.channels.map((c) => [c, c.state(expected)]));
    // The leader: the channel that led so far while it shows the expected moment, else the first one that does.
    let leader = this.leader && states.get(this.leader) === "ready" ? this.leader : null;
    if (!leader) leader = this.channels.find((c) => states.get(c) === "ready") || null;
    let wall;
    if (leader && !leader.parked) {
      wall = leader.wallNow();
      // Its playlist closes up gaps: when the leader jumps over one, the clock keeps the expected
      // moment, and the next tick hands the lead to a channel that shows it (or finds none).
      if (wall == null || wall > expected + SEEK_DRIFT || wall < expected - 5) wall = expected;
    } else if (leader) {
      wall = expected; // about to be put on the clock's moment
    } else if ([...states.values()].some((s) => s === "buffering" || s === "loading")) {
      wall = this.wall; // the clock waits for the pictures
      this._last = null;
    } else {
      // Nobody has footage here: on to the next footage of any channel.
      const next = [...this.channels.map((c) => c.nextWall(expected)), this.nextFootage(expected)].filter(
        (w) => w != null,
      );
      wall = next.length ? Math.min(...next) : expected;
      if (next.length && wall > expected + 1 && !this.channels.some((c) => c.nextWall(wall) === wall)) {
        this.seek(wall); // beyond the loaded ranges
        return;
      }
      if (wall > expected + 1) this.strain.restart(); // a jump over a gap is not speed
    }
    const live = wall > this.now() - LIVE_MARGIN;
    if (live && this.speed > 1) this.speed = 1;
    if (live) wall = Math.min(wall, this.now());
    if (!this.playing || live) this.strain.reset();
    else this.strain.measure(now, wall, leader, this.channels, this.speed);
    this.wall = wall;
    this.leader = leader;
    for (const playback of this.channels) playback.follow(wall, playback === leader);
    if (this._refreshing++ % 25 === 0) this._refreshLive();
    if (this.onTick) this.onTick(this);
  }

  /** Whether the page's timeline shows footage of ``channel`` in [start, end) (set by the page). */
  hasFootage(_channel, _start, _end) {
    return true;
  }

  /** Where the page's timeline shows footage next (set by the page; null: not known). */
  nextFootage(_wall) {
    return null;
  }

  /** Reload the live ranges' playlists, so the map grows with the footage. */
  _refreshLive() {
    for (const playback of this.channels) {
      const player = playback.active;
      if (player && player.map && player.map.live) player.refresh();
    }
  }

  /** The clock's moment now: the leading picture's, between ticks. */
  clockNow() {
    const wall = this.leader && !this.leader.parked ? this.leader.wallNow() : null;
    return wall != null && Math.abs(wall - this.wall) < SEEK_DRIFT ? wall : this.wall;
  }

  /** Positions of the channels' pictures on the clock (the test and the status line read them). */
  positions() {
    return this.channels.map((c) => ({ id: c.channel.id, wall: c.wallNow(), error: c.error }));
  }
}
