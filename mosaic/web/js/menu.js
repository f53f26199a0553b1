// Menu buttons as the ARIA Authoring Practices' menu-button pattern describes them: opening
// moves focus to the first item (ArrowUp on the button: the last), arrows move between items,
// Home/End go to the ends, Escape closes and gives focus back to the button, Tab closes and
// moves on. The button's aria-expanded always says whether its menu is open, and only one
// popup is open at a time: a menu left open behind another hides what the keyboard is doing.

let openMenu = null;

// Closes whatever menu is open (a panel that opens calls this too); focus stays where it is.
export function closeMenus() {
  if (openMenu) openMenu.close({ returnFocus: false });
}

export class MenuButton {
  // ``available`` says whether the button opens its menu now (the Leave button does only for hosts).
  constructor(button, menu, { available = () => true } = {}) {
    this.button = button;
    this.menu = menu;
    this.available = available;
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("keydown", (event) => {
      if (!this.available() || (event.key !== "ArrowDown" && event.key !== "ArrowUp")) return;
      event.preventDefault();
      this.open(event.key === "ArrowUp" ? "last" : "first");
    });
    menu.addEventListener("keydown", (event) => this.onKey(event));
    // A click or tap anywhere else closes the menu, as it does in a desktop application, and
    // so does focus going elsewhere (a dialog opened with a shortcut, a panel): one popup at a time.
    const outside = (event) => {
      if (this.isOpen() && !menu.contains(event.target) && !button.contains(event.target)) {
        this.close({ returnFocus: false });
      }
    };
    document.addEventListener("pointerdown", outside);
    document.addEventListener("focusin", outside);
  }

  isOpen() {
    return !this.menu.hidden;
  }

  items() {
    return [...this.menu.querySelectorAll('[role="menuitem"]')].filter((item) => !item.hidden && !item.disabled);
  }

  toggle() {
    if (this.isOpen()) this.close();
    else this.open("first");
  }

  open(which = "first") {
    if (openMenu && openMenu !== this) openMenu.close({ returnFocus: false });
    openMenu = this;
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    const items = this.items();
    for (const item of items) item.tabIndex = -1;
    const target = which === "last" ? items[items.length - 1] : items[0];
    if (target) target.focus();
  }

  close({ returnFocus = true } = {}) {
    if (openMenu === this) openMenu = null;
    if (!this.isOpen()) return;
    const hadFocus = this.menu.contains(document.activeElement);
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (returnFocus || hadFocus) this.button.focus();
  }

  onKey(event) {
    const items = this.items();
    const index = items.indexOf(document.activeElement);
    const horizontal = this.menu.getAttribute("aria-orientation") === "horizontal";
    const next = horizontal ? "ArrowRight" : "ArrowDown";
    const previous = horizontal ? "ArrowLeft" : "ArrowUp";
    let target = null;
    if (event.key === next || (horizontal && event.key === "ArrowDown")) target = items[(index + 1) % items.length];
    else if (event.key === previous || (horizontal && event.key === "ArrowUp")) {
      target = items[(index - 1 + items.length) % items.length];
    } else if (event.key === "Home") target = items[0];
    else if (event.key === "End") target = items[items.length - 1];
    else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close();
      return;
    } else if (event.key === "Tab") {
      this.close({ returnFocus: false });
      this.button.focus();
      return;
    }
    if (target) {
      event.preventDefault();
      target.focus();
    }
  }
}
