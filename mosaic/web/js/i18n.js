// Every string the user reads comes from i18n/<lang>.json; markup names keys with data-i18n*.
const SUPPORTED = ["en", "fr"];
const STORAGE_KEY = "mosaic.language";
let strings = {};
let current = "en";

export function supportedLanguages() {
  return [...SUPPORTED];
}

export function preferredLanguage() {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (SUPPORTED.includes(stored)) return stored;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = tag.toLowerCase().split("-")[0];
    if (SUPPORTED.includes(base)) return base;
  }
  return "en";
}

export async function loadLanguage(code) {
  const response = await fetch(`/static/i18n/${code}.json`, { cache: "no-cache" });
  strings = await response.json();
  current = code;
  document.documentElement.lang = code;
}

export function language() {
  return current;
}

// t("people.you", { name: "Ann" }) fills {name}; a missing key shows itself, loudly.
export function t(key, params = {}) {
  const text = strings[key];
  if (text === undefined) return `⟦${key}⟧`;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

const ATTRIBUTES = [
  ["data-i18n-aria-label", "aria-label"],
  ["data-i18n-placeholder", "placeholder"],
  ["data-i18n-title", "title"],
];

export function translate(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const [source, target] of ATTRIBUTES) {
    for (const element of root.querySelectorAll(`[${source}]`)) {
      element.setAttribute(target, t(element.getAttribute(source)));
    }
  }
}

// Fills a <select> with the languages, each named in itself, and switches on change.
export function bindLanguageSelect(select, onChange) {
  const names = { en: "English", fr: "Français" };
  select.replaceChildren(
    ...SUPPORTED.map((code) => {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = names[code];
      return option;
    }),
  );
  select.value = current;
  select.addEventListener("change", async () => {
    localStorage.setItem(STORAGE_KEY, select.value);
    await loadLanguage(select.value);
    translate();
    if (onChange) onChange();
  });
}

export async function startI18n() {
  await loadLanguage(preferredLanguage());
  translate();
}
