// Picking the user's language and filling in translated strings, for the NVR's web components.
// Each component keeps its own table of strings (nvr-wall-strings.js, nvr-panel-strings.js): one
// object per language, "en" always among them.

/** The language of Home Assistant's user, as a key of ``strings`` ("en" when none fits). */
export function language(hass, strings) {
  const wanted = (hass && ((hass.locale && hass.locale.language) || hass.language)) || "en";
  if (strings[wanted]) return wanted;
  const lower = wanted.toLowerCase();
  if (["zh-cn", "zh-sg", "zh-my", "zh-hans"].includes(lower)) return "zh-Hans";
  const exact = Object.keys(strings).find((key) => key.toLowerCase() === lower);
  if (exact) return exact;
  const prefix = lower.split("-")[0];
  return Object.keys(strings).find((key) => key.toLowerCase() === prefix) || "en";
}

/** tr(hass, key, vars): the string ``key`` in the user's language, ``{name}`` filled in from ``vars``. */
export function translator(strings) {
  return (hass, key, vars = {}) => {
    const text = strings[language(hass, strings)][key] ?? strings.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_m, name) => (name in vars ? String(vars[name]) : `{${name}}`));
  };
}
