"""A grid of result thumbnails drawn by the browser as one element: each result's image,
caption and score bar, a click on any of them sends its index back (a trigger value), and a
strip above shows the mix of classes. Fifty results are one element instead of two hundred
(image, caption, bar and button each), which is what keeps a click under a fifth of a
second. Captions come from datasets (folder names): they are escaped before they are HTML."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from vizkit import palette
from vizkit.app.plots import data_uri

CSS = """
.vk-mix { display: flex; height: 18px; border-radius: 4px; overflow: hidden;
          margin: 0 0 .5rem 0; font: 11px sans-serif; }
.vk-mix span { display: flex; align-items: center; justify-content: center; color: TEXT_LIGHT;
               text-shadow: 0 0 2px TEXT_DARK;
               overflow: hidden; white-space: nowrap; }
.vk-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(118px, 1fr));
           gap: 8px; max-height: 640px; overflow-y: auto; }
.vk-cell { display: flex; flex-direction: column; align-items: center; gap: 3px; padding: 6px;
           border: 1px solid var(--st-border-color, BORDER); border-radius: 6px;
           background: var(--st-background-color, SURFACE); cursor: pointer;
           font: 11px/1.25 sans-serif; color: var(--st-text-color, INK); }
.vk-cell:hover, .vk-cell:focus { outline: 2px solid var(--st-primary-color, ACCENT); }
.vk-cell img { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated; }
.vk-cap { text-align: center; word-break: break-all; }
.vk-bar { width: 100%; height: 5px; background: BORDER; border-radius: 3px; }
.vk-bar span { display: block; height: 100%; border-radius: 3px;
               background: var(--st-primary-color, ACCENT); }
"""
for _name in ("TEXT_LIGHT", "TEXT_DARK", "BORDER", "SURFACE", "INK", "ACCENT"):
    CSS = CSS.replace(_name, getattr(palette, _name))

JS = """
function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                   '"': "&quot;", "'": "&#39;"}[c]));
}
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector(".vk-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "vk-root";
    parentElement.appendChild(root);
    root.addEventListener("click", (event) => {
      const cell = event.target.closest("[data-idx]");
      if (cell) root.vkSend("clicked", Number(cell.dataset.idx));
    });
  }
  root.vkSend = setTriggerValue;
  root.dataset.query = String(data.query);
  const total = data.mix.reduce((sum, m) => sum + m.count, 0) || 1;
  const mix = data.mix.map((m) =>
    `<span style="flex:${m.count};background:${m.colour}" data-class="${esc(m.name)}"
           title="${esc(m.name)}: ${m.count}">${m.count / total > 0.08 ? esc(m.name) : ""}</span>`
  ).join("");
  const cells = data.items.map((it) =>
    `<button class="vk-cell" data-idx="${it.idx}"
             aria-label="${esc(data.action)}: ${esc(it.caption)}"
             title="${esc(it.caption)} · ${esc(it.score)}">
       <img src="${it.src}" alt="${esc(it.caption)}">
       <span class="vk-cap">${esc(it.caption)}</span>
       <span class="vk-bar"><span style="width:${(100 * it.bar).toFixed(1)}%"></span></span>
       <span>${esc(it.score)}</span>
     </button>`).join("");
  root.innerHTML = `<div class="vk-mix" aria-label="classes of the results">${mix}</div>` +
                   `<div class="vk-grid">${cells}</div>`;
}
"""

_GRID = st.components.v2.component("vizkit_thumbnail_grid", css=CSS, js=JS)


def thumbnail_grid(items: list[dict], mix: list[tuple[str, int, str]], *, key: str, query,
                   on_click: Callable[[int], None], action: str = "Search this") -> None:
    """Draw ``items`` (dicts with ``idx``, ``png``, ``caption``, ``score`` text and ``bar``
    in [0, 1]) under a strip of ``mix`` ((class, count, its palette colour), largest first);
    a click on an item
    calls ``on_click(idx)`` before the rerun it causes. ``query`` is written on the grid
    (``data-query``) so that a browser can tell which query it shows."""
    def clicked() -> None:
        value = getattr(st.session_state.get(key), "clicked", None)
        if value is not None:
            on_click(int(value))

    _GRID(key=key, data={"query": query, "action": action,
                         "mix": [{"name": name, "count": int(n), "colour": colour}
                                 for name, n, colour in mix],
                         "items": [{"idx": int(it["idx"]), "src": data_uri(it["png"]),
                                    "caption": it["caption"], "score": it["score"],
                                    "bar": float(it["bar"])} for it in items]},
          on_clicked_change=clicked, height="content")
