// A long list (the people panel at 1,000 participants) of which only the rows in view exist.
//
// A DOM of 1,000 rows, each rebuilt on every roster event, costs the page megabytes and
// hundreds of milliseconds per event; here the list keeps its full height (so the scrollbar
// tells how long it is), rows are placed absolutely at index × ROW_HEIGHT, and only the rows
// in the scroller's view plus MARGIN on each side are in the document. A row is rebuilt only
// when what it shows changed. Screen readers still hear "37 of 1,000" (aria-posinset and
// aria-setsize on each row), and keyboard users move on: a focused row is scrolled into view,
// which brings its neighbours in, so Tab and the arrow keys never fall off the rendered end.

export const ROW_HEIGHT = 40; // px; the CSS gives .virtual-list rows exactly this height
const MARGIN = 10; // rows rendered beyond each edge of the view
const HIDDEN_ROWS = 30; // rows kept while the scroller is hidden (nothing is in view then)

function same(a, b) {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

export class VirtualList {
  // list: the <ul>; scroller: the element that scrolls it. render(item) builds a row (an <li>
  // with data-participant-id); version(item) returns the values a row depends on (compared
  // one by one); label(item) is the text a search matches.
  constructor(list, scroller, { render, version, label }) {
    this.list = list;
    this.scroller = scroller;
    this.renderRow = render;
    this.version = version;
    this.label = label;
    this.items = [];
    this.shown = [];
    this.index = new Map(); // id -> position in `shown`
    this.rows = new Map(); // id -> { row, version }
    this.query = "";
    this.focusedId = null;
    this.pending = false;
    list.classList.add("virtual-list");
    list.setAttribute("role", "list"); // list-style: none drops the implicit role in Safari
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(scroller);
    list.addEventListener("focusin", (event) => this.focused(event.target));
    list.addEventListener("focusout", () => {
      // Focus left the list for good (not to another of its rows): forget it, so the row
      // is no longer kept in the DOM out of view.
      setTimeout(() => {
        if (!list.contains(document.activeElement)) this.focusedId = null;
      });
    });
    list.addEventListener("keydown", (event) => this.key(event));
  }

  update(items) {
    this.items = items;
    this.applyFilter();
    this.draw();
  }

  filter(query) {
    this.query = query.trim().toLowerCase();
    this.applyFilter();
    this.draw();
  }

  applyFilter() {
    const query = this.query;
    this.shown = query ? this.items.filter((item) => this.label(item).toLowerCase().includes(query)) : this.items;
    this.index = new Map(this.shown.map((item, position) => [item.id, position]));
  }

  // Scrolling fires many events per frame: one draw per frame is enough.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  // The positions [start, end) in view, with the margin.
  range() {
    const count = this.shown.length;
    const height = this.scroller.clientHeight;
    if (height === 0) return [0, Math.min(count, HIDDEN_ROWS)];
    const offset = this.scroller.getBoundingClientRect().top - this.list.getBoundingClientRect().top;
    const start = Math.max(0, Math.floor(offset / ROW_HEIGHT) - MARGIN);
    const end = Math.min(count, Math.ceil((offset + height) / ROW_HEIGHT) + MARGIN);
    return [Math.min(start, end), end];
  }

  draw() {
    if (this.drawing) return; // a row refocused while being rebuilt: this draw is under way
    this.drawing = true;
    try {
      this.place();
    } finally {
      this.drawing = false;
    }
  }

  place() {
    const count = this.shown.length;
    this.list.style.height = `${count * ROW_HEIGHT}px`;
    const [start, end] = this.range();
    const wanted = [];
    for (let position = start; position < end; position++) wanted.push(position);
    // The row that has focus stays in the DOM even scrolled away (focus must not fall to <body>).
    const focused = this.focusedId === null ? undefined : this.index.get(this.focusedId);
    if (focused !== undefined && (focused < start || focused >= end)) {
      wanted.push(focused);
      wanted.sort((a, b) => a - b);
    }
    const keep = new Set();
    const nodes = wanted.map((position) => {
      const item = this.shown[position];
      keep.add(item.id);
      const row = this.rowFor(item);
      row.style.top = `${position * ROW_HEIGHT}px`;
      row.setAttribute("aria-posinset", String(position + 1));
      row.setAttribute("aria-setsize", String(count));
      return row;
    });
    for (const [id, { row }] of this.rows) {
      if (!keep.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    // In position order, so that Tab goes down the list; rows that stay are not moved.
    nodes.forEach((node, position) => {
      const current = this.list.children[position];
      if (current !== node) this.list.insertBefore(node, current || null);
    });
  }

  rowFor(item) {
    const version = this.version(item);
    const cached = this.rows.get(item.id);
    if (cached && same(cached.version, version)) return cached.row;
    const row = this.renderRow(item);
    row.tabIndex = -1;
    if (cached) this.carryOver(cached.row, row);
    this.rows.set(item.id, { row, version });
    return row;
  }

  // A row rebuilt while its menu is open (its person muted meanwhile) keeps the menu open, and
  // focus where it was.
  carryOver(old, row) {
    const hadFocus = old.contains(document.activeElement);
    const openMenu = old.querySelector("details[open]");
    const inMenu = hadFocus && openMenu && openMenu.contains(document.activeElement);
    if (old.parentNode) old.replaceWith(row);
    const menu = row.querySelector("details");
    if (openMenu && menu) menu.open = true;
    if (inMenu && menu) menu.querySelector("summary").focus();
    else if (hadFocus) row.focus();
  }

  focused(target) {
    const row = target.closest("li");
    if (!row || !this.list.contains(row)) return;
    this.focusedId = row.dataset.participantId;
    row.scrollIntoView({ block: "nearest" });
    this.draw();
  }

  // Arrow keys, Home, End, PageUp, PageDown move from row to row (the rows are items of one
  // list; Tab still visits each row's own buttons).
  key(event) {
    const row = event.target.closest("li");
    if (!row || event.target.closest("details[open] .menu")) return;
    const position = this.index.get(row.dataset.participantId);
    if (position === undefined) return;
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / ROW_HEIGHT) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    let next;
    if (event.key in moves) next = position + moves[event.key];
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = this.shown.length - 1;
    else return;
    event.preventDefault();
    this.focusAt(Math.min(Math.max(0, next), this.shown.length - 1));
  }

  focusAt(position) {
    const item = this.shown[position];
    if (!item) return;
    this.focusedId = item.id;
    this.draw();
    const row = this.rows.get(item.id).row;
    row.focus();
  }
}
