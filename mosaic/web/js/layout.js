// Where tiles go: pure functions, tested in the browser tests through the page.

export const PAGE_SIZES = [4, 9, 16, 25, 49];
const ASPECT = 16 / 9;
const GAP = 8;

// The grid (columns × rows) that makes `count` 16:9 tiles as large as `width` × `height`
// allows, and the tile size it gives.
export function bestGrid(count, width, height, gap = GAP) {
  let best = { cols: 1, rows: 1, tileWidth: 0, tileHeight: 0 };
  if (count < 1 || width <= 0 || height <= 0) return best;
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const cellWidth = (width - gap * (cols - 1)) / cols;
    const cellHeight = (height - gap * (rows - 1)) / rows;
    const tileWidth = Math.floor(Math.min(cellWidth, cellHeight * ASPECT));
    if (tileWidth > best.tileWidth) {
      best = { cols, rows, tileWidth, tileHeight: Math.floor(tileWidth / ASPECT) };
    }
  }
  return best;
}

// The slice of `items` on page `page` (0-based) of `size`, and how many pages there are.
export function paginate(items, size, page) {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(Math.max(0, page), pages - 1);
  return { pages, page: current, items: items.slice(current * size, (current + 1) * size) };
}

// Who is shown large in speaker view: the host's spotlight first, then my pin, then whoever
// speaks, then anyone else.
export function featured({ spotlight = [], pinned = null, speaker = null, others = [] }) {
  const present = new Set(others);
  const spot = spotlight.filter((id) => present.has(id));
  if (spot.length) return spot;
  if (pinned && present.has(pinned)) return [pinned];
  if (speaker && present.has(speaker)) return [speaker];
  return others.slice(0, 1);
}
