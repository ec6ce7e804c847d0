// The NVR page's event filter: which kinds of event the time bar marks and "previous/next event" visits.
//
// "All events", or one kind: motion, a person, a vehicle, a bicycle, an animal (object detection's
// events) or a manual recording. The choice is kept in the page's session.

import { el } from "./nvr-dom.js";

export const EVENT_KINDS = ["motion", "person", "vehicle", "bicycle", "animal", "manual"];
const KEY = "nvr-event-filter";

/** The kinds shown: null for all of them. */
export function storedKinds() {
  const kind = window.sessionStorage.getItem(KEY);
  return EVENT_KINDS.includes(kind) ? [kind] : null;
}

/** A <select> of the kinds; ``onChange(kinds)`` gets null (all) or a one-kind list. */
export function eventFilter(tr, onChange) {
  const select = el("select", "event-filter");
  select.title = tr("event_filter");
  select.setAttribute("aria-label", select.title);
  for (const kind of ["", ...EVENT_KINDS]) {
    const option = el("option", "", tr(kind ? kind : "all_events"));
    option.value = kind;
    select.append(option);
  }
  const kinds = storedKinds();
  select.value = kinds ? kinds[0] : "";
  select.addEventListener("change", () => {
    window.sessionStorage.setItem(KEY, select.value);
    onChange(select.value ? [select.value] : null);
  });
  return select;
}

/** Whether an event of ``kind`` passes the filter. */
export function shown(kinds, kind) {
  return !kinds || kinds.includes(kind);
}
