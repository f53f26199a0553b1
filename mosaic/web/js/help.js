// The keyboard shortcuts, listed in a modal dialog opened with "?" (and its button).
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// [keys, what they do, the control they press (its aria-keyshortcuts)]
export const SHORTCUTS = [
  ["Alt+A", "help.microphone", "mic"],
  ["Alt+V", "help.camera", "cam"],
  ["Alt+S", "help.share", "share"],
  ["Alt+Y", "help.hand", "hand"],
  ["Alt+H", "help.chat", "chat"],
  ["Alt+P", "help.people", "people"],
  ["Alt+Q", "help.leave", "leave"],
  ["Escape", "help.escape", null],
  ["?", "help.help", "help"],
];

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export class HelpDialog {
  constructor() {
    this.dialog = $("help-dialog");
    this.opener = null;
    for (const [keys, , control] of SHORTCUTS) if (control) $(control)?.setAttribute("aria-keyshortcuts", keys);
    $("help").addEventListener("click", () => this.open());
    $("help-close").addEventListener("click", () => this.dialog.close());
    // A modal <dialog> makes the page behind it inert; Tab still leaves for the browser's own
    // controls after the last button, so it wraps here instead.
    this.dialog.addEventListener("keydown", (event) => this.trap(event));
    this.dialog.addEventListener("close", () => this.restoreFocus());
    document.addEventListener("keydown", (event) => {
      if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      if (this.dialog.open || $("room").hidden) return;
      event.preventDefault();
      this.open();
    });
  }

  render() {
    $("help-list").replaceChildren(
      ...SHORTCUTS.flatMap(([keys, key]) => {
        const term = document.createElement("dt");
        const kbd = document.createElement("kbd");
        kbd.textContent = keys;
        term.append(kbd);
        const what = document.createElement("dd");
        what.textContent = t(key);
        return [term, what];
      }),
    );
  }

  open() {
    this.opener = document.activeElement;
    this.render();
    this.dialog.showModal();
    $("help-close").focus();
  }

  trap(event) {
    if (event.key !== "Tab") return;
    const focusable = [...this.dialog.querySelectorAll("button, [href], [tabindex]:not([tabindex='-1'])")];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  // Back to the control that opened the dialog. An item of a menu (which closed as the dialog
  // took focus) gives way to the menu's button; a control gone meanwhile, to the microphone,
  // rather than <body>.
  restoreFocus() {
    let back = this.opener && this.opener.isConnected && this.opener !== document.body ? this.opener : $("mic");
    const menu = back.closest('[role="menu"]');
    if (menu?.hidden) back = document.querySelector(`[aria-controls="${menu.id}"]`) ?? $("mic");
    this.opener = null;
    back.focus();
    if (document.activeElement !== back) $("mic").focus();
  }
}
