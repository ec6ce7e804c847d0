// Playback that cannot keep up says so. On a busy machine or a slow network, 4x may reach only 2x, and
// channels may fall apart; the page then says "catching up" with the speed reached, instead of silently
// playing slower or out of step. Measured on the clock the channels follow (nvr-playback.js).

const WINDOW_MS = 3000; // the speed reached is measured over the last 3 s of playing
const SLOW_SHARE = 0.8; // below 80 % of the set speed: catching up
export const SYNC_SPREAD = 0.3; // seconds between the channels' pictures beyond which: catching up
const HOLD_MS = 1500; // how long a strain must last before it shows, and be gone before it clears

export class Strain {
  constructor() {
    this.reset();
  }

  /** Start again, showing nothing (a seek, a new speed, pause, live). */
  reset() {
    this.restart();
    this._since = this._easedSince = null;
    /** The clock's speed over the window (null: not measured yet). */
    this.achieved = null;
    /** Seconds between the channels' pictures (0 with one channel). */
    this.spread = 0;
    /** Whether the clock runs below the set speed (else the channels are apart). */
    this.slow = false;
    this.catchingUp = false;
  }

  /** Measure the speed afresh (the clock jumped over a gap: that is not speed), keeping what shows. */
  restart() {
    this._samples = [];
  }

  /**
   * One tick of the clock at ``wall`` (epoch s) at ``now`` (performance.now(), ms). Loading after a
   * seek is not measured: the samples begin once a channel leads, that is shows the moment.
   */
  measure(now, wall, leader, channels, speed) {
    if (!leader && !this._samples.length) return;
    const samples = this._samples;
    samples.push([now, wall]);
    while (samples.length > 2 && now - samples[1][0] >= WINDOW_MS) samples.shift();
    const [t0, w0] = samples[0];
    this.achieved = now - t0 >= WINDOW_MS * 0.9 ? (wall - w0) / ((now - t0) / 1000) : null;
    const shown = channels
      .filter((c) => !c.parked && c.state(wall) === "ready")
      .map((c) => c.wallNow())
      .filter((w) => w != null);
    this.spread = shown.length > 1 ? Math.max(...shown) - Math.min(...shown) : 0;
    const slow = this.achieved != null && this.achieved < speed * SLOW_SHARE;
    const strained = slow || this.spread > SYNC_SPREAD;
    if (strained || !this.catchingUp) this.slow = slow; // what shows names the strain that made it show
    if (strained) {
      this._easedSince = null;
      if (this._since == null) this._since = now;
      if (now - this._since >= HOLD_MS) this.catchingUp = true;
    } else {
      this._since = null;
      if (this._easedSince == null) this._easedSince = now;
      if (now - this._easedSince >= HOLD_MS) this.catchingUp = false;
    }
  }
}
