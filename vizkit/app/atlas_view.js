// The atlas view: every point of a layout drawn by regl-scatterplot (WebGL points: a million
// stay interactive, its lasso selects them) and, over it, the pyramid of image tiles drawn by
// deck.gl's TileLayer following regl-scatterplot's camera, from the whole set down to single
// thumbnails. Tiles are asked of the server through the component's "want" state and arrive
// in a later render's data; points arrive once, through the vizkit_atlas_points element.
// State sent back: want (tiles), lasso (a polygon in world units); trigger: open (a click's
// level and world point: the server knows which image that cell shows).

const registry = (globalThis.vkAtlas = globalThis.vkAtlas || {});

function pointsOf(table, world) {
  const col = (name) => table.getChild(name).toArray();
  const x = col("x"), y = col("y"), n = x.length;
  // regl-scatterplot draws normalised coordinates: world x [0, W] -> [-1, 1], y flipped
  const nx = new Float32Array(n), ny = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    nx[i] = (2 * x[i]) / world - 1;
    ny[i] = 1 - (2 * y[i]) / world;
  }
  return {n, nx, ny, label: col("label"), cluster: col("cluster"),
          predicted: col("predicted"), correct: col("correct"),
          index: table.getChild("kd") ? spatialIndex(col("kd"), nx, ny) : undefined};
}

const KD_NODE_SIZE = 16;  // vizkit.compute.kd_order.KD_NODE_SIZE
function spatialIndex(order, nx, ny) {
  // regl-scatterplot's KDBush index in KDBush's buffer format (v1, float32 coordinates),
  // from the order the atlas job computed: the scatterplot uses it instead of building
  // its own on every draw (0.8 s at a million points)
  const n = nx.length, Ids = n < 65536 ? Uint16Array : Uint32Array;
  const idBytes = n * Ids.BYTES_PER_ELEMENT, pad = (8 - (idBytes % 8)) % 8;
  const buffer = new ArrayBuffer(8 + idBytes + pad + 8 * n);
  new Uint8Array(buffer, 0, 2).set([0xdb, (1 << 4) + 7]);  // 7: Float32Array
  new Uint16Array(buffer, 2, 1)[0] = KD_NODE_SIZE;
  new Uint32Array(buffer, 4, 1)[0] = n;
  const ids = new Ids(buffer, 8, n), coords = new Float32Array(buffer, 8 + idBytes + pad, 2 * n);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = order[i];
    // not a permutation of the points (a damaged file): the scatterplot builds its own
    if (!(j >= 0 && j < n) || seen[j]) return undefined;
    seen[j] = 1;
    ids[i] = j;
    coords[2 * i] = nx[j];
    coords[2 * i + 1] = ny[j];
  }
  return buffer;
}

function categories(pts, by, palette) {
  // a category per point (an index into the colour list) for regl-scatterplot's colorBy
  const table = palette[by] || palette.class;
  const values = by === "class" ? pts.label : pts[by];
  const keys = Object.keys(table);
  const colours = keys.map((k) => table[k]).concat([palette.none]);
  const index = new Map(keys.map((k, i) => [Number(k), i]));
  const none = keys.length;
  const z = new Float32Array(pts.n);
  for (let i = 0; i < pts.n; i++) {
    const at = index.get(values[i]);
    z[i] = at === undefined ? none : at;
  }
  return {z, colours};
}

function linearScale(domain, range) {
  // the part of a d3 linear scale regl-scatterplot uses: it keeps the visible world range in
  // the domain as the camera moves, which is what the tile layer follows
  let d = domain.slice(), r = range.slice();
  const f = (v) => r[0] + ((v - d[0]) / (d[1] - d[0])) * (r[1] - r[0]);
  f.domain = (v) => (v === undefined ? d.slice() : ((d = [...v]), f));
  f.range = (v) => (v === undefined ? r.slice() : ((r = [...v]), f));
  f.invert = (p) => d[0] + ((p - r[0]) / (r[1] - r[0])) * (d[1] - d[0]);
  f.copy = () => linearScale(d, r);
  return f;
}

function pointsInside(nx, ny, poly) {
  // the indices of the points inside a polygon (normalised coordinates), by the crossing
  // rule the server uses, fast at a million points: a grid over the polygon's box sorts
  // its cells into inside, outside and crossed by an edge, and only the points of crossed
  // cells are tested against the edges
  const m = poly.length, px = new Float64Array(m), py = new Float64Array(m);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  poly.forEach(([x, y], i) => {
    px[i] = x; py[i] = y;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  });
  const G = 256, w = (x1 - x0) / G || 1e-12, h = (y1 - y0) / G || 1e-12;
  const CROSSED = 2, cells = new Uint8Array(G * G);
  const cellOf = (v, lo, size) => Math.max(0, Math.min(G - 1, Math.floor((v - lo) / size)));
  for (let a = 0, b = m - 1; a < m; b = a++) {
    // samples along the edge at most half a cell apart; each marks its cell and the
    // cells around it, so every cell the edge passes through is marked
    const steps = Math.ceil(2 * Math.max(Math.abs(px[a] - px[b]) / w,
                                         Math.abs(py[a] - py[b]) / h)) + 1;
    for (let k = 0; k <= steps; k++) {
      const c = cellOf(px[b] + ((px[a] - px[b]) * k) / steps, x0, w);
      const r = cellOf(py[b] + ((py[a] - py[b]) * k) / steps, y0, h);
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr, cc = c + dc;
          if (rr >= 0 && rr < G && cc >= 0 && cc < G) cells[rr * G + cc] = CROSSED;
        }
      }
    }
  }
  const xs = [];
  for (let r = 0; r < G; r++) {  // a cell no edge crosses is inside when its centre is
    const y = y0 + (r + 0.5) * h;
    xs.length = 0;
    for (let a = 0, b = m - 1; a < m; b = a++) {
      if ((py[a] > y) !== (py[b] > y)) {
        xs.push(((px[b] - px[a]) * (y - py[a])) / (py[b] - py[a]) + px[a]);
      }
    }
    xs.sort((p, q) => p - q);
    let k = 0, inside = false;
    for (let c = 0; c < G; c++) {
      const x = x0 + (c + 0.5) * w;
      while (k < xs.length && xs[k] < x) { inside = !inside; k++; }
      if (inside && cells[r * G + c] !== CROSSED) cells[r * G + c] = 1;
    }
  }
  const crossing = (x, y) => {
    let inside = false;
    for (let a = 0, b = m - 1; a < m; b = a++) {
      if ((py[a] > y) !== (py[b] > y) &&
          x < ((px[b] - px[a]) * (y - py[a])) / (py[b] - py[a]) + px[a]) inside = !inside;
    }
    return inside;
  };
  const out = [];
  for (let i = 0, n = nx.length; i < n; i++) {
    const x = nx[i], y = ny[i];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    const cell = cells[cellOf(y, y0, h) * G + cellOf(x, x0, w)];
    if (cell === 1 || (cell === CROSSED && crossing(x, y))) out.push(i);
  }
  return out;
}

function tileFeed(atlas, send, onArrive) {
  // tiles by "level/x/y": asked for in batches (at most 48, what the server answers), kept
  // once they arrive; a tile the view stopped needing before it was asked is dropped
  const pending = new Map(), asked = new Set();
  let timer = null, seq = 0;
  function flush() {
    timer = null;
    const keys = [...pending.keys()].filter((k) => !asked.has(k)).slice(0, 48);
    if (!keys.length) return;
    keys.forEach((k) => asked.add(k));
    seq += 1;
    send.state("want", {seq, tiles: keys});
  }
  function request(z, x, y, signal) {
    const key = `${z}/${x}/${y}`;
    if (atlas.tiles.has(key)) return Promise.resolve(atlas.tiles.get(key));
    return new Promise((resolve) => {
      pending.set(key, (pending.get(key) || []).concat([resolve]));
      if (signal) signal.addEventListener("abort", () => {
        const left = (pending.get(key) || []).filter((r) => r !== resolve);
        if (left.length || asked.has(key)) pending.set(key, left);
        else pending.delete(key);
        resolve(null);
      });
      if (!timer) timer = setTimeout(flush, 60);
    });
  }
  async function deliver(tiles) {
    for (const [key, uri] of Object.entries(tiles || {})) {
      if (!pending.has(key) && atlas.tiles.has(key)) continue;
      let image = null;
      if (uri) image = await createImageBitmap(await (await fetch(uri)).blob());
      atlas.tiles.set(key, image);
      for (const resolve of pending.get(key) || []) resolve(image);
      pending.delete(key);
      asked.delete(key);
    }
    onArrive();
    if (pending.size && !timer) timer = setTimeout(flush, 0);
  }
  return {request, deliver};
}

function build(root, meta, send, camera) {
  const atlas = {meta, tiles: new Map(), showTiles: true, colourBy: meta.color};
  const stage = root.querySelector(".vk-atlas-stage");
  const canvas = root.querySelector("canvas.vk-atlas-points");
  const status = root.querySelector(".vk-atlas-status");
  const W = meta.world;
  atlas.xScale = linearScale([0, W], [0, 1]);
  atlas.yScale = linearScale([W, 0], [1, 0]);
  atlas.zoom = () => {
    const [x0, x1] = atlas.xScale.domain();
    return Math.log2(stage.clientWidth / Math.max(x1 - x0, 1e-9));
  };
  atlas.level = () => Math.max(0, Math.min(meta.levels - 1, Math.ceil(atlas.zoom() - 1e-6)));
  const feed = tileFeed(atlas, send, () => countLevelTiles());
  atlas.deliver = feed.deliver;
  function countLevelTiles() {
    const level = atlas.level();
    let drawn = 0;
    for (const [key, image] of atlas.tiles) if (image && key.startsWith(`${level}/`)) drawn++;
    root.dataset.vkAtlasLevelTiles = String(drawn);
    if (drawn && atlas.tileDeck) {  // the first images to draw, since navigation
      root.dataset.vkAtlasTilesMs ||= performance.now().toFixed(0);
    }
    root.dataset.vkAtlasTiles = String(atlas.tiles.size);
  }

  function tileLayer() {
    const deck = globalThis.deck;
    return new deck.TileLayer({
      id: "tiles", tileSize: W, minZoom: 0, maxZoom: meta.levels - 1, extent: [0, 0, W, W],
      maxCacheSize: 600, visible: atlas.showTiles,
      getTileData: ({index, signal}) => feed.request(index.z, index.x, index.y, signal),
      renderSubLayers: (props) => {
        if (!props.data) return null;
        const {left, bottom, right, top} = props.tile.bbox;
        return new deck.BitmapLayer(props, {data: null, image: props.data,
                                            bounds: [left, bottom, right, top]});
      },
    });
  }
  atlas.tileDeck = null;
  atlas.attachTiles = () => {
    // deck.gl (2 MB to evaluate) arrives after the scatterplot: the points draw first
    if (atlas.tileDeck || !globalThis.deck) return;
    const deck = globalThis.deck;
    atlas.tileDeck = new deck.Deck({
      parent: root.querySelector(".vk-atlas-tiles"), width: "100%", height: "100%",
      views: new deck.OrthographicView({id: "atlas", flipY: true}), controller: false,
      viewState: {target: [W / 2, W / 2, 0], zoom: 0}, layers: [tileLayer()],
    });
    follow();
  };
  function follow() {
    // the tiles follow the scatterplot's camera: its scales hold the visible world range
    const [x0, x1] = atlas.xScale.domain(), [yBottom, yTop] = atlas.yScale.domain();
    const before = root.dataset.vkAtlasZoom;
    if (atlas.tileDeck) {
      atlas.tileDeck.setProps({viewState: {target: [(x0 + x1) / 2, (yBottom + yTop) / 2, 0],
                                           zoom: atlas.zoom()}});
    }
    root.dataset.vkAtlasZoom = String(atlas.level());
    root.dataset.vkAtlasScale = atlas.zoom().toFixed(3);
    status.textContent = `zoom level ${atlas.level() + 1} of ${meta.levels}`;
    if (before !== root.dataset.vkAtlasZoom) countLevelTiles();
  }

  // the canvas at its drawn size from the start: the scatterplot sizes it only on its first
  // resize callback, after the first frame, which would be drawn at the default 300 x 150
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(stage.clientWidth * dpr);
  canvas.height = Math.round(stage.clientHeight * dpr);
  const sp = globalThis.createScatterplot({
    canvas, width: "auto", height: "auto", xScale: atlas.xScale, yScale: atlas.yScale,
    backgroundColor: [1, 1, 1, 0], pointSize: 4, opacity: 0.9, colorBy: "valueA",
    pointColor: [meta.palette.none], actionKeyMap: {},  // the lasso is this view's own
    lassoOnLongPress: false, deselectOnDblClick: false, deselectOnEscape: true,
    pointOutlineWidth: 1, pointSizeSelected: 2, pointScaleMode: "constant",
    ...(camera || {}),  // the previous frame's view, when a run's epoch changes
  });
  atlas.sp = sp;
  // its WebGL renderer draws at the window's size and each frame is copied from it: at the
  // stage's size instead, every frame clears, blits and copies fewer pixels (on software GL
  // the copy is most of a frame); kept so when the page resizes
  const renderer = sp.get("renderer");
  const fitRenderer = () => renderer.resize(Math.max(stage.clientWidth, 1),
                                            Math.max(stage.clientHeight, 1));
  fitRenderer();
  atlas.rendererFit = new ResizeObserver(fitRenderer);  // disconnected with the scatterplot
  atlas.rendererFit.observe(stage);
  sp.subscribe("view", follow);
  sp.subscribe("select", ({points}) => {
    atlas.lastSelected = points.length;
    root.dataset.vkAtlasSelected = String(points.length);
  });
  // the lasso (the Lasso button, or a drag with Shift held): drawn over the map, so that
  // drawing it costs no WebGL frame, and its points found here, on pointer up
  const outline = root.querySelector(".vk-atlas-lasso-path polyline");
  let lasso = null, lassoed = false;
  canvas.addEventListener("pointerdown", (e) => {
    lassoed = false;
    if (!(atlas.lassoOn || e.shiftKey) || e.button !== 0) return;
    e.preventDefault();  // no mouse events follow: the scatterplot does not pan
    canvas.setPointerCapture(e.pointerId);
    lasso = [local(e)];
  }, true);
  canvas.addEventListener("pointermove", (e) => {
    if (!lasso) return;
    const [x, y] = local(e), [px, py] = lasso[lasso.length - 1];
    if (Math.hypot(x - px, y - py) < 2) return;
    lasso.push([x, y]);
    outline.setAttribute("points", lasso.map((p) => p.join(",")).join(" "));
  }, true);
  canvas.addEventListener("pointerup", () => {
    if (!lasso) return;
    const started = performance.now(), drawn = lasso;
    lasso = null;
    lassoed = true;
    outline.setAttribute("points", "");
    if (drawn.length < 3) return;
    const poly = drawn.map(([x, y]) => [atlas.xScale.invert(x), atlas.yScale.invert(y)]);
    const ids = pointsInside(atlas.pts.nx, atlas.pts.ny,
                             poly.map(([x, y]) => [(2 * x) / W - 1, 1 - (2 * y) / W]));
    sp.select(ids);
    root.dataset.vkAtlasLassoMs = (performance.now() - started).toFixed(1);
    // the polygon in world units for the server (which lists the images inside it)
    const step = Math.ceil(poly.length / 500);  // the server takes at most 512 vertices
    atlas.lastPolygon = poly;
    root.dataset.vkAtlasLassoed = String(ids.length);
    send.state("lasso", {polygon: poly.filter((_, i) => i % step === 0), count: ids.length});
  }, true);
  canvas.addEventListener("click", (e) => {
    if (lassoed) e.stopImmediatePropagation();  // not the scatterplot's click on a point
  }, true);
  function local(e) {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }
  sp.subscribe("deselect", () => {
    atlas.lastSelected = 0;
    root.dataset.vkAtlasSelected = "0";
  });
  // a click (not a drag) on an image searches with it
  let down = null;
  canvas.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY, e.timeStamp]; });
  canvas.addEventListener("pointerup", (e) => {
    if (!down || lassoed || atlas.lassoOn || e.shiftKey) return;
    const moved = Math.hypot(e.clientX - down[0], e.clientY - down[1]);
    if (moved > 4 || e.timeStamp - down[2] > 600) return;
    const [x, y] = toWorld(e);
    send.trigger("open", {level: atlas.level(), x, y});
  });
  function toWorld(e) {
    const r = canvas.getBoundingClientRect();
    return [atlas.xScale.invert(e.clientX - r.left), atlas.yScale.invert(e.clientY - r.top)];
  }
  canvas.addEventListener("pointermove", (e) => hover(atlas, root, e, toWorld(e)));
  canvas.addEventListener("pointerleave", () => {
    root.querySelector(".vk-atlas-tip").style.display = "none";
  });

  atlas.fitView = () => {
    // the camera that frames every point (a run's frames share a world larger than one
    // epoch's points: each opens on its own)
    const {nx, ny, n} = atlas.pts;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      x0 = Math.min(x0, nx[i]); x1 = Math.max(x1, nx[i]);
      y0 = Math.min(y0, ny[i]); y1 = Math.max(y1, ny[i]);
    }
    const aspect = stage.clientWidth / Math.max(stage.clientHeight, 1);
    const distance = Math.max((y1 - y0) / 2, (x1 - x0) / 2 / aspect) * 1.08;
    sp.set({cameraTarget: [(x0 + x1) / 2, (y0 + y1) / 2],
            cameraDistance: Math.max(distance, 1e-3)});
  };
  atlas.setPoints = async (table, complete) => {
    // a first sample of a large atlas's points, then (complete) all of them
    atlas.pts = pointsOf(table, W);
    root.dataset.vkAtlasPoints = String(atlas.pts.n);
    sp.set({pointSize: atlas.pts.n > 200000 || !complete ? 2 : 4});
    if (!camera && !atlas.framed) atlas.fitView();  // before the first draw: it draws once
    atlas.framed = true;
    await atlas.recolour();
    follow();
    if (complete) {
      root.dataset.vkAtlasCompleteMs = performance.now().toFixed(0);  // since navigation
      root.dataset.vkAtlasComplete = "1";
    }
    if (root.dataset.vkAtlasReady) return;
    root.dataset.vkAtlasReadyMs = performance.now().toFixed(0);  // since navigation
    root.dataset.vkAtlasReady = "1";
  };
  atlas.recolour = async () => {
    if (!atlas.pts) return;
    const {z, colours: list} = categories(atlas.pts, atlas.colourBy, meta.palette);
    sp.set({pointColor: list});
    await sp.draw({x: atlas.pts.nx, y: atlas.pts.ny, z},
                  {zDataType: "categorical", spatialIndex: atlas.pts.index});
  };
  atlas.setTiles = (on) => {
    atlas.showTiles = on;
    if (atlas.tileDeck) atlas.tileDeck.setProps({layers: [tileLayer()]});
  };
  atlas.setLasso = (on) => { atlas.lassoOn = on; };
  atlas.inside = (poly) => pointsInside(atlas.pts.nx, atlas.pts.ny, poly);  // for tests
  atlas.wholeMap = () => atlas.fitView();
  return atlas;
}

function hover(atlas, root, e, [wx, wy]) {
  // the image of the cell under the pointer, large, from the tile already drawn
  const tip = root.querySelector(".vk-atlas-tip");
  const d = atlas.meta, level = atlas.level();
  const size = d.cells * 2 ** level, w = d.world / size;
  const col = Math.floor(wx / w), row = Math.floor(wy / w);
  const image = atlas.showTiles &&
    atlas.tiles.get(`${level}/${Math.floor(col / d.cells)}/${Math.floor(row / d.cells)}`);
  if (!image || col < 0 || row < 0 || col >= size || row >= size) {
    tip.style.display = "none"; return;
  }
  const canvas = tip.querySelector("canvas"), ctx = canvas.getContext("2d");
  const px = d.cell_px;
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(image, (col % d.cells) * px, (row % d.cells) * px, px, px, 0, 0,
                canvas.width, canvas.height);
  if (!ctx.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data[3]) {
    tip.style.display = "none"; return;
  }
  const r = root.querySelector(".vk-atlas-stage").getBoundingClientRect();
  tip.style.display = "block";
  tip.style.left = `${Math.min(e.clientX - r.left + 16, r.width - 180)}px`;
  tip.style.top = `${Math.min(e.clientY - r.top + 16, r.height - 180)}px`;
}

function skeleton(root) {
  root.className = "vk-atlas";
  root.innerHTML = `
    <div class="vk-atlas-bar">
      <label><input type="checkbox" class="vk-atlas-show-tiles" checked> images</label>
      <button type="button" class="vk-atlas-lasso" aria-pressed="false"
              title="Draw around points to select them (or drag with Shift held)">Lasso</button>
      <button type="button" class="vk-atlas-reset">Whole map</button>
      <span class="vk-atlas-status"></span>
    </div>
    <div class="vk-atlas-stage">
      <canvas class="vk-atlas-points"></canvas>
      <div class="vk-atlas-tiles"></div>
      <svg class="vk-atlas-lasso-path"><polyline points=""></polyline></svg>
      <div class="vk-atlas-tip"><canvas width="160" height="160"></canvas></div>
    </div>`;
}

function wire(root, atlas) {
  root.querySelector(".vk-atlas-show-tiles").addEventListener("change", (e) => {
    atlas.setTiles(e.target.checked);
  });
  const lasso = root.querySelector(".vk-atlas-lasso");
  lasso.addEventListener("click", () => {
    const on = lasso.getAttribute("aria-pressed") !== "true";
    lasso.setAttribute("aria-pressed", String(on));
    atlas.setLasso(on);
  });
  root.querySelector(".vk-atlas-reset").addEventListener("click", atlas.wholeMap);
}

export default function (component) {
  const {data, setStateValue, setTriggerValue, parentElement} = component;
  let root = parentElement.querySelector(".vk-atlas");
  if (!root) {
    root = document.createElement("div");
    root.className = "vk-atlas";
    parentElement.appendChild(root);
  }
  const send = {state: setStateValue, trigger: setTriggerValue};
  if (root.dataset.vkAtlasKey !== data.key) {
    let camera = null;
    if (root.vkAtlas) {
      const old = root.vkAtlas.sp;
      camera = {cameraTarget: old.get("cameraTarget"), cameraDistance: old.get("cameraDistance")};
      if (root.vkAtlas.meta.world !== data.world) camera = null;
      root.vkAtlas.rendererFit.disconnect();  // its renderer goes with it
      old.destroy();
      if (root.vkAtlas.tileDeck) root.vkAtlas.tileDeck.finalize();
    }
    root.vkAtlas = null;
    root.dataset.vkAtlasKey = data.key;
    for (const name of ["vkAtlasReady", "vkAtlasReadyMs", "vkAtlasComplete",
                        "vkAtlasCompleteMs", "vkAtlasTilesMs"]) delete root.dataset[name];
    skeleton(root);
    const start = () => {
      if (!globalThis.createScatterplot) { setTimeout(start, 30); return; }
      const atlas = build(root, data, send, camera);
      root.vkAtlas = atlas;
      registry[data.key] = atlas;
      wire(root, atlas);
      let drawn = null, sampleAt = 0;
      const waitPoints = async () => {
        // a large atlas's sample first, even when all its points are here already: the
        // sample draws in a fraction of the time; then the first images; then all points
        // (a million take a second a frame on software GL, which would hold the images up)
        const parts = (globalThis.vkAtlasPoints || {})[data.key] || {};
        if (parts.first && drawn !== parts.first) {
          drawn = parts.first;
          await atlas.setPoints(parts.first, false);
          sampleAt = performance.now();
        }
        const imagesFirst = sampleAt && !root.dataset.vkAtlasTilesMs &&
          performance.now() - sampleAt < 3000;
        if (parts.all && !imagesFirst) { await atlas.setPoints(parts.all, true); return; }
        setTimeout(waitPoints, 30);
      };
      waitPoints();
      const waitDeck = () => {
        if (globalThis.deck) atlas.attachTiles(); else setTimeout(waitDeck, 30);
      };
      waitDeck();
      atlas.deliver(data.tiles);
    };
    start();
    return;
  }
  const update = () => {
    const atlas = root.vkAtlas;
    if (!atlas) { setTimeout(update, 50); return; }
    if (atlas.colourBy !== data.color) { atlas.colourBy = data.color; atlas.recolour(); }
    atlas.deliver(data.tiles);
  };
  update();
}
