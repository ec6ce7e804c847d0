// The NVR page's style sheet.

export const STYLE = `
  :host { display: flex; flex-direction: column; box-sizing: border-box; height: 100%;
    min-height: calc(100dvh - var(--safe-area-inset-top, 0px) - var(--safe-area-inset-bottom, 0px)); background: var(--primary-background-color, #111); color: var(--primary-text-color, #eee);
    font-family: var(--paper-font-body1_-_font-family, Roboto, sans-serif); }
  .page { display: flex; flex-direction: column; flex: 1; min-height: 0; }
  .toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; padding: 8px 12px;
    background: var(--app-header-background-color, #15171b); color: var(--app-header-text-color, #fff); }
  .toolbar .title { font-size: 18px; font-weight: 500; margin-right: 8px; }
  .toolbar .spacer { flex: 1; }
  /* Buttons take their shades from the text colour: HA 2025's header is blue with white text, 2026's is light. */
  button { font: inherit; color: inherit; background: color-mix(in srgb, currentColor 8%, transparent);
    border: 1px solid color-mix(in srgb, currentColor 35%, transparent);
    border-radius: 4px; padding: 4px 10px; cursor: pointer; min-height: 30px; }
  button[aria-pressed="true"] { background: var(--app-header-text-color, #fff); border-color: var(--app-header-text-color, #fff);
    color: var(--app-header-background-color, #15171b); font-weight: 600; }
  button:disabled { opacity: .4; cursor: default; }
  button.icon { padding: 2px 6px; display: inline-flex; align-items: center; justify-content: center; }
  button.icon ha-icon { --mdc-icon-size: 20px; }
  select { font: inherit; padding: 4px; }
  .day { position: relative; }
  .calendar { position: absolute; top: 36px; left: 0; z-index: 20; background: #1c1f24; color: #eee; padding: 8px;
    border-radius: 6px; box-shadow: 0 4px 16px rgba(0,0,0,.6); display: grid; grid-template-columns: repeat(7, 34px); gap: 2px; }
  .calendar .month { grid-column: span 5; text-align: center; align-self: center; }
  .calendar button { min-height: 28px; padding: 2px; }
  .calendar .dim { opacity: .35; }
  .calendar .chosen { outline: 2px solid var(--primary-color, #03a9f4); }
  .screens { flex: 1; min-height: 200px; display: grid; gap: 2px; background: #000; padding: 2px; }
  .screen { position: relative; background: #0b0c0e; overflow: hidden; min-height: 120px; }
  .screen .player { position: absolute; inset: 0; width: 100%; height: 100%; display: flex; flex-direction: column;
    justify-content: center; --video-max-height: 100%; }
  .screen .player.standby { visibility: hidden; }
  .screen .name { position: absolute; left: 6px; bottom: 4px; padding: 1px 6px; background: rgba(0,0,0,.55);
    border-radius: 3px; font-size: 13px; z-index: 3; color: #eee; }
  .screen .clock { position: absolute; right: 6px; top: 4px; padding: 1px 6px; background: rgba(0,0,0,.55);
    border-radius: 3px; font-size: 13px; z-index: 3; color: #eee; font-variant-numeric: tabular-nums; }
  .screen .notice { position: absolute; inset: 0; display: flex; flex-direction: column; gap: 8px; align-items: center;
    justify-content: center; text-align: center; padding: 12px; background: #101216; color: #ebebeb; z-index: 2; }
  .hint { align-self: center; justify-self: center; padding: 16px; color: #bbb; font-size: 16px; text-align: center; }
  .status { padding: 4px 12px; min-height: 20px; font-size: 13px; color: var(--secondary-text-color, #aaa); }
  .status .time { color: var(--primary-text-color, #eee); font-weight: 600; font-variant-numeric: tabular-nums; margin-right: 12px; }
  nvr-timeline { padding: 0 0 8px; border-top: 1px solid rgba(127,127,127,.3); }
  .hidden { display: none !important; }
`;
