// What sighted people see happen, said to screen-reader users: one polite live region for
// everything, an assertive one only for what cannot wait (the connection is lost). Both are in
// the page from the start, because a region added later is often not watched.
const KEEP = 5;

// Each message is a new line (screen readers say additions; the same words twice are said
// twice); the last few stay, so a message is not cut off by the next.
export function announce(text, { urgent = false } = {}) {
  const region = document.getElementById(urgent ? "announcer-urgent" : "announcer");
  if (!region || !text) return;
  const line = document.createElement("p");
  line.textContent = text;
  region.append(line);
  while (region.children.length > KEEP) region.firstElementChild.remove();
}
