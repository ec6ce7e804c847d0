// The NVR wall card's style sheet.

export const STYLE = `
  :host { display: block; }
  ha-card { overflow: hidden; background: #000; color: #eee; }
  .header { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center; padding: 8px 12px;
    background: #15171b; font-size: 14px; }
  .header .title { font-weight: 600; font-size: 16px; margin-right: auto; }
  .header .warning { color: #ffc107; font-weight: 700; cursor: help; }
  .header .playback { font: inherit; color: inherit; background: rgba(255,255,255,.08); border: 1px solid rgba(255,255,255,.25);
    border-radius: 4px; padding: 2px 8px; cursor: pointer; display: inline-flex; align-items: center; }
  .header ha-icon { --mdc-icon-size: 18px; }
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
  .tile .objects { display: flex; gap: 2px; }
  .tile .object { display: flex; align-items: center; justify-content: center; height: 18px; padding: 0 3px;
    border-radius: 3px; background: #fdd835; color: #111; --mdc-icon-size: 16px; margin-top: -2px; }
  .tile .alarm { width: 0; height: 0; border-left: 8px solid transparent; border-right: 8px solid transparent;
    border-bottom: 14px solid #fdd835; }
  .tile .nosignal { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
    flex-direction: column; background: #101216; color: #ebebeb; font-size: clamp(12px, 4cqi, 28px); z-index: 2;
    text-align: center; container-type: inline-size; }
  .tile .nosignal .channel { color: #9aa0a6; font-size: 0.6em; margin-top: 0.4em; }
  .hidden { display: none !important; }
  .message { padding: 16px; color: var(--primary-text-color); background: var(--card-background-color); }
`;
