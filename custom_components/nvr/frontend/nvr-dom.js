// Building DOM nodes, shared by the NVR's web components.

/** A new element with an optional class name and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** HA's own icon element showing ``name`` (e.g. "mdi:history"): no font needs the glyph. */
export function icon(name) {
  const node = document.createElement("ha-icon");
  node.icon = name;
  return node;
}
