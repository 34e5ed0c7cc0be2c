// LivSeg slice viewer: a Streamlit components-v2 module (plain JS, no build step).
//
// Data in: one Uint8Array = "LSVO" | u32 LE options length | options JSON | payload, where
// payload = "LSV1" | u32 LE header length | header JSON | deflate sections (see
// livseg/viewer_payload.py). The volume is decoded once (cached per payload id on window),
// then every slice is drawn on canvases in the browser: no server round-trip per slice.
//
// Orientation: arrays (x, y, z) on livseg's canonical grid (LAS+: x index 0 = patient's
// right). Axial shown radiologically (patient's right on the
// viewer's left, anterior at the top); coronal: right on the left, superior at the top;
// sagittal: anterior on the left, superior at the top. Pixel aspect from the voxel spacing.
//
// Keys (only while the viewer has focus; everything else propagates, 1-5 and Enter included):
// ArrowUp/ArrowDown +-1 slice, PageUp/PageDown +-10, Home/End first/last, a/c/s views,
// b abdomen W400/L40, l liver W150/L90, o outline/fill, v liver, t tumour, h all overlays,
// +/- zoom, r reset, x one view / three views (axial, coronal, sagittal, linked crosshair). Mouse: wheel = slices, left drag = window/level, shift/middle drag = pan,
// click = move the cross-reference point.

const G = (window.__livsegViewer = window.__livsegViewer || { decoded: new Map(), state: new Map() });
const STATS = (window.__viewerStats = window.__viewerStats || { draws: [], opens: [], keys: [], errors: [] });

const PRESETS = { abdomen: [400, 40], liver: [150, 90] };
// fixed colours per structure (never per panel / method): RGB; the Python wrapper sends
// livseg.render's LIVER_RGB / TUMOUR_RGB so server PNGs and the viewer agree
const DEFAULT_COLOURS = { 1: [46, 204, 113], 2: [231, 60, 60] };
let COLOURS = DEFAULT_COLOURS;
const NAMES = { 1: "liver", 2: "tumour" };
const HANDLED_KEYS = new Set([
  "ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End",
  "a", "c", "s", "b", "l", "o", "v", "t", "h", "+", "=", "-", "r", "f", "n", "p", "m", "e", "x",
]);

const te = new TextDecoder();

function readBlock(bytes, magic) {
  const m = te.decode(bytes.subarray(0, 4));
  if (m !== magic) throw new Error(`bad payload: expected ${magic}, got ${JSON.stringify(m)}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const n = dv.getUint32(4, true);
  const json = JSON.parse(te.decode(bytes.subarray(8, 8 + n)));
  return [json, bytes.subarray(8 + n)];
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// The compressed CT sections of the cases this tab was sent, by content key (ct.id): a
// later item of the same case arrives without them (ct.held) and is decoded from here.
const CT_BYTES_LIMIT = 400e6;
function keepCtBytes(ct, body) {
  G.ctBytes = G.ctBytes || new Map();
  if (G.ctBytes.has(ct.id) || !ct.slabs.length) return;
  const end = Math.max(...ct.slabs.map((s) => s.escapes_offset + s.escapes_length));
  G.ctBytes.set(ct.id, { slabs: ct.slabs, body: body.slice(0, end) });
  let total = 0;
  for (const v of G.ctBytes.values()) total += v.body.length;
  while (total > CT_BYTES_LIMIT && G.ctBytes.size > 1) {
    const [oldest, v] = G.ctBytes.entries().next().value;
    G.ctBytes.delete(oldest);
    total -= v.body.length;
  }
}

// Decode order: the CT slab holding the first slice to show, then the other slabs nearest
// first. `first` resolves when that slab is decoded, `done` when all are; `ready[z]` says
// whether axial slice z is decoded yet. A decoded CT is cached by its own id, so the next
// item of the same case (other label maps) only inflates its labels.
function decodeCt(header, body, firstSlice) {
  const ct = header.ct;
  const [cx, cy, cz] = ct.shape;
  const hu = new Int16Array(cx * cy * cz);
  const ready = new Uint8Array(cz);
  const listeners = new Set();
  const off = ct.hu_offset;
  const step = ct.hu_step || 1;
  // "med-zigzag-escape-slabs": per voxel one byte, the zigzag-coded residual of the MED
  // (LOCO-I) prediction from the left (a), upper (b) and upper-left (c) values (0 outside
  // the slice); 255 = take the next uint16 of the escape stream (livseg/viewer_payload.py)
  async function slab(s) {
    const codes = await inflate(body.subarray(s.offset, s.offset + s.length));
    const n = (s.z1 - s.z0) * cx * cy;
    if (codes.length !== n) throw new Error(`CT slab ${s.z0}-${s.z1} has ${codes.length} values, expected ${n}`);
    let esc = new Uint16Array(0);
    if (s.escapes_length) {
      const e = await inflate(body.subarray(s.escapes_offset, s.escapes_offset + s.escapes_length));
      esc = new Uint16Array(e.buffer, e.byteOffset, e.length >> 1);
    }
    let prev = new Int32Array(cx), cur = new Int32Array(cx);
    let i = 0, ei = 0, o = s.z0 * cx * cy;
    for (let z = s.z0; z < s.z1; z++) {
      prev.fill(0);
      for (let y = 0; y < cy; y++) {
        let a = 0, c = 0;
        for (let x = 0; x < cx; x++, i++, o++) {
          let code = codes[i];
          if (code === 255) code = esc[ei++];
          const b = prev[x];
          let p = a + b - c;
          if (a > b) { if (p > a) p = a; else if (p < b) p = b; }
          else { if (p > b) p = b; else if (p < a) p = a; }
          const v = ((code >>> 1) ^ -(code & 1)) + p;
          cur[x] = v;
          hu[o] = (v - off) * step;
          c = b;
          a = v;
        }
        const t = prev; prev = cur; cur = t;
      }
    }
    if (ei !== esc.length) throw new Error(`CT slab ${s.z0}-${s.z1}: ${esc.length - ei} escapes left over`);
    ready.fill(1, s.z0, s.z1);
    STATS.slabs_decoded = (STATS.slabs_decoded || 0) + 1;
    for (const fn of listeners) fn(s);
  }
  const slabs = ct.slabs.slice().sort((a, b) =>
    Math.abs((a.z0 + a.z1) / 2 - firstSlice) - Math.abs((b.z0 + b.z1) / 2 - firstSlice));
  const first = slab(slabs[0]);
  const done = first.then(async () => {
    for (const s of slabs.slice(1)) await slab(s);
  });
  return { hu, ready, listeners, first, done };
}

function decodeLabels(header, body) {
  return Promise.all(header.panels.map(async (p, i) => {
    const crop = await inflate(body.subarray(p.offset, p.offset + p.length));
    const [x0, x1, y0, y1, z0, z1] = p.bbox;
    const n = (x1 - x0) * (y1 - y0) * (z1 - z0);
    if (crop.length !== n) throw new Error(`label map ${i} has ${crop.length} voxels, expected ${n}`);
    return { crop, x0, x1, y0, y1, z0, z1, bx: x1 - x0, by: y1 - y0 };
  }));
}

function cached(map, id, make, limit) {
  let entry = map.get(id);
  if (!entry) {
    entry = make();
    map.set(id, entry);
    (entry.done || entry).catch(() => map.delete(id));
    while (map.size > limit) map.delete(map.keys().next().value);
  }
  return entry;
}

function getDecoded(header, ctBody, body, firstSlice) {
  G.ct = G.ct || new Map();
  const ct = cached(G.ct, header.ct.id, () => decodeCt(header, ctBody, firstSlice), 2);
  const labels = cached(G.decoded, header.id, () => decodeLabels(header, body), 4);
  const dec = { hu: ct.hu, ready: ct.ready, labels: null, listeners: ct.listeners };
  dec.first = Promise.all([labels, ct.first]).then(([l]) => { dec.labels = l; return dec; });
  dec.done = Promise.all([dec.first, ct.done]).then(() => dec);
  return dec;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// The reader's display settings (view, window, fill / outline, opacity, overlays shown) are
// kept in the browser's localStorage under the opaque key the server gives per reader, so
// they carry over to her next item and her next session on this browser.
const SETTINGS_PREFIX = "livseg.viewer.settings.";
const SETTING_NAMES = ["view", "ww", "wl", "opacity", "outline", "show", "layout"];

function loadSettings(settingsKey) {
  if (!settingsKey) return {};
  try {
    const raw = JSON.parse(window.localStorage.getItem(SETTINGS_PREFIX + settingsKey) || "{}");
    const out = {};
    if (["axial", "coronal", "sagittal"].includes(raw.view)) out.view = raw.view;
    if (Number.isFinite(raw.ww) && raw.ww >= 1 && raw.ww <= 4096) out.ww = raw.ww;
    if (Number.isFinite(raw.wl) && raw.wl >= -1024 && raw.wl <= 3071) out.wl = raw.wl;
    if (Number.isFinite(raw.opacity) && raw.opacity >= 0 && raw.opacity <= 1) out.opacity = raw.opacity;
    if (typeof raw.outline === "boolean") out.outline = raw.outline;
    if (["single", "three"].includes(raw.layout)) out.layout = raw.layout;
    if (raw.show && typeof raw.show === "object") out.show = { 1: raw.show[1] !== false, 2: raw.show[2] !== false };
    return out;
  } catch (err) {
    return {};
  }
}

function saveSettings(settingsKey, st) {
  if (!settingsKey) return;
  const out = {};
  for (const k of SETTING_NAMES) out[k] = st[k];
  try { window.localStorage.setItem(SETTINGS_PREFIX + settingsKey, JSON.stringify(out)); } catch (err) { /* private mode */ }
}

function presetState(header, opts) {
  const [gx, gy, gz] = header.shape;
  const preset = PRESETS[opts.preset] || PRESETS.abdomen;
  return {
    id: header.id,
    view: opts.view || "axial",
    pos: [Math.floor(gx / 2), Math.floor(gy / 2), opts.slice ?? Math.floor(gz / 2)],
    ww: preset[0],
    wl: preset[1],
    opacity: opts.opacity ?? 0.4,
    outline: !!opts.outline,
    show: { 1: true, 2: true },
    layout: "single", // or "three": axial, coronal and sagittal of one panel, linked crosshair
    panel3: 0, // the panel shown in three views: the one the reader last clicked
    zoom: 1,
    pan: [0, 0],
  };
}

function defaultState(header, opts) {
  return Object.assign(presetState(header, opts), loadSettings(opts.settings_key));
}

export default function (component) {
  const { data, key, parentElement, setStateValue } = component;
  const root = el("div", "lsv-root");
  root.tabIndex = 0;
  parentElement.querySelectorAll(".lsv-root").forEach((n) => n.remove());
  parentElement.appendChild(root);
  const tCall = performance.now();
  const listeners = [];
  const on = (target, type, fn, o) => {
    target.addEventListener(type, fn, o);
    listeners.push([target, type, fn, o]);
  };
  let disposed = false;
  let opts, header, body;
  try {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    let rest;
    [opts, rest] = readBlock(bytes, "LSVO");
    [header, body] = readBlock(rest, "LSV1");
    const need = Math.max(0, ...header.ct.slabs.map((q) => q.escapes_offset + q.escapes_length),
      ...header.panels.map((q) => q.offset + q.length));
    if (body.length < need) throw new Error(`payload truncated: ${body.length} of ${need} bytes`);
  } catch (err) {
    root.appendChild(el("div", "lsv-error", `Viewer: ${err.message}`));
    STATS.errors.push(String(err));
    return () => root.remove();
  }
  // height: a number of px, "fill" (from where the viewer sits to the window's bottom) or
  // "screen" (the window's height); full screen (button or f) uses the whole screen
  function fitHeight() {
    let h;
    const vh = window.innerHeight;
    if (document.fullscreenElement === root) h = screen.height || vh;
    else if (typeof opts.height === "number") h = opts.height;
    else if (opts.height === "screen") h = Math.max(360, vh - 24);
    else h = Math.max(Math.min(420, vh - 24), vh - Math.max(0, root.getBoundingClientRect().top) - 12);
    const css = `${Math.floor(h)}px`;
    if (root.style.height !== css) root.style.height = css;
  }
  const fitUntil = performance.now() + 3000;
  fitHeight();
  if (opts.colours) COLOURS = { 1: opts.colours.liver, 2: opts.colours.tumour };
  // the CT: this message's sections, or those kept from an earlier item (ct.held)
  let ctBody = body;
  if (header.ct.held) {
    const kept = G.ctBytes && G.ctBytes.get(header.ct.id);
    if (kept) {
      header.ct.slabs = kept.slabs;
      ctBody = kept.body;
    } else if (!(G.ct && G.ct.has(header.ct.id))) {
      // evicted (bounded cache): ask the server for the whole payload (one rerun)
      root.appendChild(el("div", "lsv-status", "Loading the CT\u2026"));
      STATS.ct_requests = (STATS.ct_requests || 0) + 1;
      setStateValue("missing_ct", `${header.ct.id}:${Date.now()}`);
      return () => root.remove();
    }
  } else {
    keepCtBytes(header.ct, body);
  }
  const stateKey = opts.state_key || key;
  let st = G.state.get(stateKey);
  if (!st || st.id !== header.id) {
    st = defaultState(header, opts);
    G.state.set(stateKey, st);
  }

  // ---------- DOM ----------
  const bar = el("div", "lsv-bar");
  const mkBtn = (label, title, fn) => {
    const b = el("button", "lsv-btn", label);
    b.type = "button";
    b.title = title;
    on(b, "click", (e) => { fn(e); root.focus({ preventScroll: true }); });
    bar.appendChild(b);
    return b;
  };
  const viewBtns = {
    axial: mkBtn("Ax", "Axial (a)", () => setView("axial")),
    coronal: mkBtn("Cor", "Coronal (c)", () => setView("coronal")),
    sagittal: mkBtn("Sag", "Sagittal (s)", () => setView("sagittal")),
  };
  const layoutBtn = mkBtn("3 views", "Three views: axial, coronal, sagittal with a linked crosshair (x)", () => toggleLayout());
  bar.appendChild(el("span", "lsv-sep"));
  mkBtn("Abd", "Abdomen window W400/L40 (b)", () => setWindow(...PRESETS.abdomen));
  mkBtn("Liv", "Liver window W150/L90 (l)", () => setWindow(...PRESETS.liver));
  const wIn = el("input", "lsv-num");
  const lIn = el("input", "lsv-num");
  for (const [inp, name] of [[wIn, "W"], [lIn, "L"]]) {
    inp.type = "number";
    inp.title = name === "W" ? "Window width (HU)" : "Window level (HU)";
    bar.appendChild(el("span", "lsv-lbl", name));
    bar.appendChild(inp);
    on(inp, "change", () => setWindow(Number(wIn.value), Number(lIn.value)));
    on(inp, "keydown", (e) => e.stopPropagation());
  }
  bar.appendChild(el("span", "lsv-sep"));
  const liverBtn = mkBtn("Liver", "Show/hide liver (v)", () => toggle(1));
  const tumourBtn = mkBtn("Tumour", "Show/hide tumour (t)", () => toggle(2));
  const modeBtn = mkBtn("Fill", "Fill or outline (o)", () => { st.outline = !st.outline; changed(); });
  modeBtn.classList.add("lsv-mode");
  const op = el("input", "lsv-range");
  op.type = "range"; op.min = "0"; op.max = "1"; op.step = "0.05";
  op.title = "Overlay opacity";
  bar.appendChild(op);
  on(op, "input", () => { st.opacity = Number(op.value); changed(); });
  bar.appendChild(el("span", "lsv-sep"));
  mkBtn("+", "Zoom in (+)", () => zoomBy(1.25));
  mkBtn("\u2212", "Zoom out (-)", () => zoomBy(0.8));
  mkBtn("Reset", "Reset zoom, pan, window and slice (r)", () => reset());
  const fullBtn = mkBtn("Full", "Full screen on / off (f)", () => toggleFullScreen());
  fullBtn.classList.add("lsv-full");
  root.appendChild(bar);

  const sliceRow = el("div", "lsv-slicerow");
  const slider = el("input", "lsv-slider");
  slider.type = "range"; slider.min = "1";
  const sliceLbl = el("span", "lsv-slicelbl");
  sliceRow.appendChild(sliceLbl);
  // the slider, with marks under it where the label maps have liver (green) / tumour (red)
  const sliderBox = el("div", "lsv-sliderbox");
  const marks = el("canvas", "lsv-marks");
  sliderBox.appendChild(slider);
  sliderBox.appendChild(marks);
  sliceRow.appendChild(sliderBox);
  on(slider, "input", () => setSlice(Number(slider.value) - 1));
  root.appendChild(sliceRow);
  // measuring tools (in the slice row: the toolbar stays one line at 1440 px)
  const rulerBtn = mkBtn("Ruler", "Length in mm: drag on the image (m)", () => setTool("ruler"));
  const roiBtn = mkBtn("ROI", "Ellipse ROI: mean / SD HU and area (e)", () => setTool("roi"));
  sliceRow.appendChild(rulerBtn);
  sliceRow.appendChild(roiBtn);
  // lesion navigation: the first panel's tumour components, largest first (n / p)
  const lesions = (header.panels[0] && header.panels[0].lesions) || [];
  let lesionIdx = -1;
  let lesionLbl = null;
  if (lesions.length) {
    const mk = (label, title, fn) => {
      const b = el("button", "lsv-btn", label);
      b.type = "button";
      b.title = title;
      on(b, "click", () => { fn(); root.focus({ preventScroll: true }); });
      return b;
    };
    sliceRow.appendChild(mk("<", "Previous lesion (p)", () => jumpLesion(-1)));
    lesionLbl = el("span", "lsv-leslbl");
    sliceRow.appendChild(lesionLbl);
    sliceRow.appendChild(mk(">", "Next lesion, largest first (n)", () => jumpLesion(1)));
  }

  const grid = el("div", "lsv-grid");
  root.appendChild(grid);
  const statusRow = el("div", "lsv-statusrow");
  const status = el("div", "lsv-status", "Loading\u2026");
  const measureLbl = el("div", "lsv-measure");
  statusRow.appendChild(status);
  statusRow.appendChild(measureLbl);
  root.appendChild(statusRow);
  const caption = opts.title ?? header.title; // the caller's option, else the payload's
  if (caption) sliceRow.appendChild(el("span", "lsv-title", caption)); // not in the bar: it never wraps

  const nPanels = Math.max(1, header.panels.length);
  const panels = [];
  for (let p = 0; p < nPanels; p++) {
    const box = el("div", "lsv-panel");
    const info = header.panels[p];
    const cap = el("div", "lsv-cap");
    if (info) {
      const v = info.volumes_ml;
      const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
      cap.appendChild(el("span", "lsv-ptitle", info.title || ""));
      const c1 = el("span", "lsv-vol", `liver ${v.liver.toFixed(1)} mL`);
      const c2 = el("span", "lsv-vol", `tumour ${v.tumour.toFixed(2)} mL`);
      c1.style.color = rgb(COLOURS[1]);
      c2.style.color = rgb(COLOURS[2]);
      cap.appendChild(c1);
      cap.appendChild(c2);
    }
    const canvas = el("canvas", "lsv-canvas");
    box.appendChild(cap);
    box.appendChild(canvas);
    grid.appendChild(box);
    panels.push({ box, canvas, label: null });
  }
  // the three-view layout: axial, coronal, sagittal of the chosen panel (hidden in one view)
  const trio = ["axial", "coronal", "sagittal"].map((view) => {
    const box = el("div", "lsv-panel lsv-trio");
    const cap = el("div", "lsv-cap");
    const title = el("span", "lsv-ptitle");
    cap.appendChild(title);
    const canvas = el("canvas", "lsv-view3"); // not .lsv-canvas: that class counts the panels
    canvas.dataset.view = view;
    box.appendChild(cap);
    box.appendChild(canvas);
    box.style.display = "none";
    grid.appendChild(box);
    return { box, canvas, view, title };
  });
  const panel3 = () => Math.max(0, Math.min(panels.length - 1, st.panel3 || 0));

  // ---------- geometry ----------
  const [GX, GY, GZ] = header.shape;
  const [SX, SY, SZ] = header.spacing;
  const F = header.ct.factor;
  const HU_STEP = header.ct.hu_step || 1;
  const [CX, CY] = header.ct.shape;
  const axisOf = { axial: 2, coronal: 1, sagittal: 0 };
  const nSlices = () => header.shape[axisOf[st.view]];
  // image size (label grid) and mm size per view
  function viewGeom(view) {
    if (view === "axial") return { w: GX, h: GY, mmw: GX * SX, mmh: GY * SY };
    if (view === "coronal") return { w: GX, h: GZ, mmw: GX * SX, mmh: GZ * SZ };
    return { w: GY, h: GZ, mmw: GY * SY, mmh: GZ * SZ };
  }
  // label-grid voxel (i, j, k) shown at image pixel (c, r) in the current view
  // opts.flip_x: show x index 0 on the viewer's right in axial / coronal views (the wrapper
  // derives it from livseg.render.display_slice, so server PNGs and the viewer always agree)
  const flipX = (view = st.view) => !!opts.flip_x && view !== "sagittal";
  function voxelAt(c, r, view = st.view) {
    const [i0, j0, k0] = st.pos;
    if (flipX(view)) c = GX - 1 - c;
    if (view === "axial") return [c, GY - 1 - r, k0];
    if (view === "coronal") return [c, j0, GZ - 1 - r];
    return [i0, GY - 1 - c, GZ - 1 - r];
  }

  let dec = null;
  let lut = null;
  let lutKey = "";
  const ctCanvas = document.createElement("canvas");
  const labCanvas = document.createElement("canvas");

  function buildLut() {
    const k = `${st.ww}/${st.wl}`;
    if (k === lutKey) return;
    lut = new Uint8Array(4096);
    const lo = st.wl - st.ww / 2;
    for (let v = 0; v < 4096; v++) {
      const x = ((v - 1024 - lo) / st.ww) * 255;
      lut[v] = x <= 0 ? 0 : x >= 255 ? 255 : x;
    }
    lutKey = k;
  }

  function renderCt(view = st.view) {
    // CT slice on its own (possibly downsampled) grid; returns the source rect in ct pixels
    const hu = dec.hu;
    const [i0, j0, k0] = st.pos;
    let w, h, img;
    if (view === "axial") {
      w = CX; h = CY;
      img = new ImageData(w, h);
      const out = new Uint32Array(img.data.buffer);
      const base = k0 * CY * CX;
      for (let r = 0; r < h && dec.ready[k0]; r++) {
        const row = base + (CY - 1 - r) * CX;
        const o = r * w;
        for (let c = 0; c < w; c++) out[o + c] = 0xff000000 | lut[hu[row + c] + 1024] * 0x010101;
      }
    } else if (view === "coronal") {
      w = CX; h = GZ;
      img = new ImageData(w, h);
      const out = new Uint32Array(img.data.buffer);
      const cy = Math.floor(j0 / F);
      for (let r = 0; r < h; r++) {
        if (!dec.ready[GZ - 1 - r]) continue;
        const row = ((GZ - 1 - r) * CY + cy) * CX;
        const o = r * w;
        for (let c = 0; c < w; c++) out[o + c] = 0xff000000 | lut[hu[row + c] + 1024] * 0x010101;
      }
    } else {
      w = CY; h = GZ;
      img = new ImageData(w, h);
      const out = new Uint32Array(img.data.buffer);
      const cx = Math.floor(i0 / F);
      for (let r = 0; r < h; r++) {
        const z = GZ - 1 - r;
        if (!dec.ready[z]) continue;
        const o = r * w;
        for (let c = 0; c < w; c++) out[o + c] = 0xff000000 | lut[hu[(z * CY + CY - 1 - c) * CX + cx] + 1024] * 0x010101;
      }
    }
    ctCanvas.width = w; ctCanvas.height = h;
    ctCanvas.getContext("2d").putImageData(img, 0, 0);
    const padX = (CX * F - GX) / F, padY = (CY * F - GY) / F;
    if (view === "axial") return [0, padY, GX / F, GY / F];
    if (view === "coronal") return [0, 0, GX / F, GZ];
    return [padY, 0, GY / F, GZ];
  }

  function renderLabels(lab, g, view = st.view) {
    const { w, h } = g;
    const img = new ImageData(w, h);
    const out = new Uint32Array(img.data.buffer);
    const [i0, j0, k0] = st.pos;
    const show = st.show;
    const col = {};
    for (const v of [1, 2]) {
      const [R, Gc, B] = COLOURS[v];
      col[v] = show[v] ? (0xff000000 | (B << 16) | (Gc << 8) | R) >>> 0 : 0;
    }
    // slice of label values into a w*h Uint8Array (rows top to bottom); the labels are
    // stored cropped to their bounding box (x0..x1, y0..y1, z0..z1), zero outside it
    const s = new Uint8Array(w * h);
    const { crop, x0, y0, y1, z0, z1, bx, by } = lab;
    if (view === "axial") {
      if (k0 >= z0 && k0 < z1) {
        for (let y = y0; y < y1; y++) {
          const src = ((k0 - z0) * by + (y - y0)) * bx;
          s.set(crop.subarray(src, src + bx), (GY - 1 - y) * w + x0);
        }
      }
    } else if (view === "coronal") {
      if (j0 >= y0 && j0 < y1) {
        for (let z = z0; z < z1; z++) {
          const src = ((z - z0) * by + (j0 - y0)) * bx;
          s.set(crop.subarray(src, src + bx), (GZ - 1 - z) * w + x0);
        }
      }
    } else if (i0 >= lab.x0 && i0 < lab.x1) {
      for (let z = z0; z < z1; z++) {
        const r = GZ - 1 - z;
        for (let y = y0; y < y1; y++) s[r * w + GY - 1 - y] = crop[((z - z0) * by + (y - y0)) * bx + (i0 - x0)];
      }
    }
    if (!st.outline) {
      for (let p = 0; p < s.length; p++) if (s[p]) out[p] = col[s[p]];
    } else {
      for (let r = 0; r < h; r++) {
        for (let c = 0; c < w; c++) {
          const p = r * w + c;
          const v = s[p];
          if (!v) continue;
          if (c === 0 || r === 0 || c === w - 1 || r === h - 1 ||
              s[p - 1] !== v || s[p + 1] !== v || s[p - w] !== v || s[p + w] !== v) out[p] = col[v];
        }
      }
    }
    labCanvas.width = w; labCanvas.height = h;
    labCanvas.getContext("2d").putImageData(img, 0, 0);
  }

  function toggleFullScreen() {
    if (document.fullscreenElement === root) document.exitFullscreen().catch(() => {});
    else if (root.requestFullscreen) root.requestFullscreen().catch(() => {});
  }
  on(document, "fullscreenchange", () => { fitHeight(); requestDraw(); });
  on(window, "resize", () => { fitHeight(); requestDraw(); });

  // panels in the grid of columns x rows that shows the images largest (5 panels: 3 + 2 on
  // a wide screen), so the viewer's whole area is used and every caption stays visible
  let gridCols = 0;
  function arrange(g) {
    const n = panels.length;
    const W = grid.clientWidth, H = grid.clientHeight, gap = 4;
    const capH = panels[0].box.firstChild.offsetHeight || 20;
    let best = 1, bestScale = -1;
    for (let c = 1; c <= n; c++) {
      const r = Math.ceil(n / c);
      const cw = (W - (c - 1) * gap) / c, ch = (H - (r - 1) * gap) / r - capH - 2;
      const scale = Math.min(cw / g.mmw, ch / g.mmh);
      if (scale > bestScale + 1e-9) { bestScale = scale; best = c; }
    }
    if (best !== gridCols) {
      gridCols = best;
      grid.style.gridTemplateColumns = `repeat(${best}, minmax(0, 1fr))`;
      grid.style.gridTemplateRows = `repeat(${Math.ceil(n / best)}, minmax(0, 1fr))`;
    }
  }

  // three views: one row, two rows (axial + coronal, sagittal) or one column, whichever
  // shows the images largest
  function arrange3() {
    const W = grid.clientWidth, H = grid.clientHeight, gap = 4;
    const capH = trio[0].box.firstChild.offsetHeight || 20;
    let best = 3, bestScale = -1;
    for (const c of [3, 2, 1]) {
      const r = Math.ceil(3 / c);
      const cw = (W - (c - 1) * gap) / c, ch = (H - (r - 1) * gap) / r - capH - 2;
      const scale = Math.min(...trio.map((t) => { const g = viewGeom(t.view); return Math.min(cw / g.mmw, ch / g.mmh); }));
      if (scale > bestScale + 1e-9) { bestScale = scale; best = c; }
    }
    if (-best !== gridCols) {
      gridCols = -best; // negative: the three-view grid (arrange() then resets it)
      grid.style.gridTemplateColumns = `repeat(${best}, minmax(0, 1fr))`;
      grid.style.gridTemplateRows = `repeat(${Math.ceil(3 / best)}, minmax(0, 1fr))`;
    }
  }

  function fitCanvas(p, g, dpr) {
    const bw = Math.max(50, p.box.clientWidth);
    const bh = Math.max(50, p.box.clientHeight - p.box.firstChild.offsetHeight - 2);
    const scale = Math.min(bw / g.mmw, bh / g.mmh);
    const cw = Math.floor(g.mmw * scale), ch = Math.floor(g.mmh * scale);
    p.canvas.style.width = `${cw}px`;
    p.canvas.style.height = `${ch}px`;
    if (p.canvas.width !== Math.round(cw * dpr) || p.canvas.height !== Math.round(ch * dpr)) {
      p.canvas.width = Math.round(cw * dpr);
      p.canvas.height = Math.round(ch * dpr);
    }
  }

  function layout() {
    // fit each panel canvas to its box keeping the mm aspect ratio; the height follows the
    // page's layout while it settles (first 3 s), later only window resizes (not scrolling)
    if (performance.now() < fitUntil) fitHeight();
    const three = st.layout === "three";
    for (const p of panels) p.box.style.display = three ? "none" : "";
    for (const t of trio) t.box.style.display = three ? "" : "none";
    const dpr = window.devicePixelRatio || 1;
    if (three) {
      arrange3();
      for (const t of trio) fitCanvas(t, viewGeom(t.view), dpr);
      return;
    }
    const g = viewGeom(st.view);
    arrange(g);
    for (const p of panels) fitCanvas(p, g, dpr);
  }

  // image pixel (row, col) of the cross-reference point in a view (before the x flip)
  function crossAt(view) {
    const [i0, j0, k0] = st.pos;
    if (view === "axial") return [GY - 1 - j0, i0];
    if (view === "coronal") return [GZ - 1 - k0, i0];
    return [GZ - 1 - k0, GY - 1 - j0];
  }

  // short edge ticks marking the cross-reference point (the other two views' slices)
  function drawTicks(ctx, cv, g) {
    const dpr = window.devicePixelRatio || 1;
    const len = (8 * dpr) / st.zoom, thick = Math.max(1, dpr) / st.zoom;
    const [row, col] = crossAt(st.view);
    const y = ((row + 0.5) * cv.height) / g.h, x = ((col + 0.5) * cv.width) / g.w;
    ctx.fillStyle = "rgba(255, 220, 0, 0.9)";
    ctx.fillRect(0, y - thick / 2, len, thick);
    ctx.fillRect(cv.width - len, y - thick / 2, len, thick);
    ctx.fillRect(x - thick / 2, 0, thick, len);
    ctx.fillRect(x - thick / 2, cv.height - len, thick, len);
  }

  // the linked crosshair of the three-view layout: full lines through the point
  function drawCross(ctx, cv, g, view) {
    const dpr = window.devicePixelRatio || 1;
    const thick = Math.max(1, dpr) / st.zoom;
    const [row, col] = crossAt(view);
    const y = ((row + 0.5) * cv.height) / g.h, x = ((col + 0.5) * cv.width) / g.w;
    ctx.fillStyle = "rgba(255, 220, 0, 0.7)";
    ctx.fillRect(0, y - thick / 2, cv.width, thick);
    ctx.fillRect(x - thick / 2, 0, thick, cv.height);
  }

  // one view of one label map on one canvas: CT, overlay, cross-reference marks
  function paint(cv, view, lab, src, g, three) {
    const ctx = cv.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, cv.width, cv.height);
    const z = st.zoom;
    ctx.setTransform(z, 0, 0, z, cv.width / 2 * (1 - z) + st.pan[0] * cv.width, cv.height / 2 * (1 - z) + st.pan[1] * cv.height);
    if (flipX(view)) { ctx.translate(cv.width, 0); ctx.scale(-1, 1); }
    ctx.imageSmoothingEnabled = true;
    ctx.globalAlpha = 1;
    ctx.drawImage(ctCanvas, src[0], src[1], src[2], src[3], 0, 0, cv.width, cv.height);
    if (lab && (st.show[1] || st.show[2]) && st.opacity > 0) {
      renderLabels(lab, g, view);
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = st.outline ? Math.max(st.opacity, 0.85) : st.opacity;
      ctx.drawImage(labCanvas, 0, 0, cv.width, cv.height);
      ctx.globalAlpha = 1;
    }
    if (three) {
      drawCross(ctx, cv, g, view);
    } else {
      drawTicks(ctx, cv, g);
      drawMeasure(ctx, cv, g);
    }
  }

  function draw(cause) {
    if (!dec || disposed) return;
    const t0 = performance.now();
    buildLut();
    layout();
    let viewsMs = null;
    if (st.layout === "three") {
      viewsMs = {};
      const lab = dec.labels[panel3()];
      for (const t of trio) {
        const tv = performance.now();
        const g = viewGeom(t.view);
        paint(t.canvas, t.view, lab, renderCt(t.view), g, true);
        t.canvas.dataset.slice = String(st.pos[axisOf[t.view]]);
        viewsMs[t.view] = performance.now() - tv;
      }
    } else {
      const g = viewGeom(st.view);
      const src = renderCt();
      for (let p = 0; p < panels.length; p++) paint(panels[p].canvas, st.view, dec.labels[p], src, g, false);
    }
    updateControls();
    readout();
    const tDrawn = performance.now();
    const slice = st.pos[axisOf[st.view]];
    const rec = { view: st.view, layout: st.layout, views_ms: viewsMs, slice, t_start: t0, t_drawn: tDrawn, cause: cause ?? null, payload: header.id, key: stateKey };
    requestAnimationFrame(() => setTimeout(() => {
      rec.t_painted = performance.now();
      if (cause && cause.t !== undefined) rec.latency_ms = rec.t_painted - cause.t;
      STATS.draws.push(rec);
      if (STATS.draws.length > 2000) STATS.draws.splice(0, 1000);
    }, 0));
  }

  let pending = null;
  let pendingCause = null;
  function requestDraw(cause) {
    if (cause && !pendingCause) pendingCause = cause;
    if (pending !== null) return;
    pending = requestAnimationFrame(() => {
      pending = null;
      const c = pendingCause;
      pendingCause = null;
      draw(c);
    });
  }

  let reportTimer = null;
  function changed(cause) {
    requestDraw(cause);
    saveSettings(opts.settings_key, st);
    if (opts.report_state) {
      clearTimeout(reportTimer);
      reportTimer = setTimeout(() => setStateValue("view_state", {
        view: st.view, slice: st.pos[axisOf[st.view]], position: st.pos.slice(),
        window_width: st.ww, window_level: st.wl,
      }), 600);
    }
  }

  function updateControls() {
    for (const [v, b] of Object.entries(viewBtns)) b.classList.toggle("lsv-on", v === st.view);
    const three = st.layout === "three";
    layoutBtn.classList.toggle("lsv-on", three);
    layoutBtn.textContent = three ? "1 view" : "3 views";
    if (three) {
      const ptitle = panels.length > 1 && header.panels[panel3()] ? `${header.panels[panel3()].title} \u00b7 ` : "";
      for (const t of trio) {
        const a = axisOf[t.view];
        t.title.textContent = `${ptitle}${t.view[0].toUpperCase()}${t.view.slice(1)} ${st.pos[a] + 1} / ${header.shape[a]}`;
        t.box.classList.toggle("lsv-active", t.view === st.view);
      }
    }
    liverBtn.classList.toggle("lsv-on", st.show[1]);
    tumourBtn.classList.toggle("lsv-on", st.show[2]);
    modeBtn.textContent = st.outline ? "Outline" : "Fill";
    op.value = String(st.opacity);
    if (root.getRootNode().activeElement !== wIn) wIn.value = String(Math.round(st.ww));
    if (root.getRootNode().activeElement !== lIn) lIn.value = String(Math.round(st.wl));
    const n = nSlices();
    const s = st.pos[axisOf[st.view]];
    slider.max = String(n);
    slider.value = String(s + 1);
    sliceLbl.textContent = `${st.view[0].toUpperCase()}${st.view.slice(1)} ${s + 1} / ${n}`;
    drawMarks();
    rulerBtn.classList.toggle("lsv-on", tool === "ruler");
    roiBtn.classList.toggle("lsv-on", tool === "roi");
    showMeasure();
    if (lesionLbl) {
      lesionLbl.textContent = lesionIdx < 0
        ? `${lesions.length} lesion${lesions.length > 1 ? "s" : ""}`
        : `lesion ${lesionIdx + 1}/${lesions.length} \u00b7 ${lesions[lesionIdx].volume_ml.toFixed(2)} mL`;
    }
  }

  // ---------- measurements: a length ruler (mm) and an ellipse ROI (mean / SD HU, mm^2) on the
  // slice they were drawn on; image pixel coordinates (c, r) of the view as shown
  let tool = null;
  let measure = null;
  function setTool(t) {
    tool = tool === t ? null : t;
    if (!tool) { measure = null; measureLbl.textContent = ""; delete measureLbl.dataset.value; }
    changed();
  }
  function onShownSlice(m) { return m && m.view === st.view && m.slice === st.pos[axisOf[st.view]]; }
  function measureResult(m) {
    const g = viewGeom(m.view);
    const pw = g.mmw / g.w, ph = g.mmh / g.h;
    if (m.kind === "ruler") {
      const mm = Math.hypot((m.b[0] - m.a[0]) * pw, (m.b[1] - m.a[1]) * ph);
      return { text: `length ${mm.toFixed(1)} mm`, value: { mm } };
    }
    const c0 = Math.min(m.a[0], m.b[0]), c1 = Math.max(m.a[0], m.b[0]);
    const r0 = Math.min(m.a[1], m.b[1]), r1 = Math.max(m.a[1], m.b[1]);
    const cc = (c0 + c1) / 2, rc = (r0 + r1) / 2, rx = (c1 - c0) / 2 + 0.5, ry = (r1 - r0) / 2 + 0.5;
    let n = 0, sum = 0, sum2 = 0;
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        if (((c - cc) / rx) ** 2 + ((r - rc) / ry) ** 2 > 1) continue;
        const [i, j, k] = voxelAt(c, r);
        if (!dec.ready[k]) continue;
        const h = huAt(i, j, k);
        n++; sum += h; sum2 += h * h;
      }
    }
    const mean = n ? sum / n : NaN;
    const sd = n > 1 ? Math.sqrt(Math.max(0, (sum2 - n * mean * mean) / (n - 1))) : NaN;
    const area = n * pw * ph;
    return {
      text: `ROI mean ${mean.toFixed(1)} HU, SD ${sd.toFixed(1)} HU, area ${area.toFixed(1)} mm\u00b2 (${n} px)`,
      value: { mean, sd, area_mm2: area, n },
    };
  }
  function showMeasure() {
    if (!measure || !onShownSlice(measure)) { measureLbl.textContent = ""; delete measureLbl.dataset.value; return; }
    const res = measureResult(measure);
    measureLbl.textContent = res.text;
    measureLbl.dataset.value = JSON.stringify({ ...res.value, a: measure.a, b: measure.b });
  }
  function drawMeasure(ctx, cv, g) {
    if (!onShownSlice(measure)) return;
    const z = st.zoom;
    ctx.setTransform(z, 0, 0, z, cv.width / 2 * (1 - z) + st.pan[0] * cv.width, cv.height / 2 * (1 - z) + st.pan[1] * cv.height);
    const X = (c) => ((c + 0.5) * cv.width) / g.w, Y = (r) => ((r + 0.5) * cv.height) / g.h;
    const dpr = window.devicePixelRatio || 1;
    ctx.strokeStyle = "rgba(0, 220, 255, 0.95)";
    ctx.lineWidth = (1.5 * dpr) / z;
    ctx.beginPath();
    if (measure.kind === "ruler") {
      ctx.moveTo(X(measure.a[0]), Y(measure.a[1]));
      ctx.lineTo(X(measure.b[0]), Y(measure.b[1]));
    } else {
      const x0 = X(Math.min(measure.a[0], measure.b[0]) - 0.5), x1 = X(Math.max(measure.a[0], measure.b[0]) + 0.5);
      const y0 = Y(Math.min(measure.a[1], measure.b[1]) - 0.5), y1 = Y(Math.max(measure.a[1], measure.b[1]) + 0.5);
      ctx.ellipse((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, 0, 0, 2 * Math.PI);
    }
    ctx.stroke();
  }

  function jumpLesion(d) {
    if (!lesions.length) return;
    const n = lesions.length;
    lesionIdx = lesionIdx < 0 ? (d > 0 ? 0 : n - 1) : (lesionIdx + d + n) % n;
    st.pos = lesions[lesionIdx].centre.slice();
    changed();
  }

  // per axis and slice: 1 = some liver, 2 = some tumour in any panel's label map
  const presence = {};
  function slicePresence(axis) {
    if (presence[axis] || !dec) return presence[axis];
    const out = [new Uint8Array(GX), new Uint8Array(GY), new Uint8Array(GZ)];
    for (const b of dec.labels) {
      const { crop, x0, y0, z0, bx, by } = b;
      for (let i = 0; i < crop.length; i++) {
        const v = crop[i];
        if (!v) continue;
        const x = x0 + (i % bx), y = y0 + (Math.floor(i / bx) % by), z = z0 + Math.floor(i / (bx * by));
        const bit = v === 2 ? 2 : 1;
        out[0][x] |= bit; out[1][y] |= bit; out[2][z] |= bit;
      }
    }
    [presence[0], presence[1], presence[2]] = out;
    return presence[axis];
  }
  let marksKey = "";
  function drawMarks() {
    const axis = axisOf[st.view];
    const p = slicePresence(axis);
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(sliderBox.clientWidth * dpr)), h = Math.round(4 * dpr);
    const k = `${axis}/${w}/${st.show[1]}/${st.show[2]}`;
    if (!p || k === marksKey) return;
    marksKey = k;
    marks.width = w; marks.height = h;
    const ctx = marks.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const n = p.length, half = 8 * dpr; // the range thumb's half width: value 1 .. n
    const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
    for (let i = 0; i < n; i++) {
      const v = p[i];
      const tumour = v & 2 && st.show[2], liver = v & 1 && st.show[1];
      if (!tumour && !liver) continue;
      ctx.fillStyle = rgb(COLOURS[tumour ? 2 : 1]);
      const x = half + (n > 1 ? (i / (n - 1)) * (w - 2 * half) : 0);
      ctx.fillRect(Math.floor(x - Math.max(1, (w - 2 * half) / n) / 2), 0, Math.max(1, Math.ceil((w - 2 * half) / n)), h);
    }
  }

  function setSlice(s, cause, a = axisOf[st.view]) {
    const v = Math.max(0, Math.min(header.shape[a] - 1, s));
    if (v === st.pos[a]) return;
    st.pos[a] = v;
    changed(cause);
  }
  function setView(v) { st.view = v; st.zoom = 1; st.pan = [0, 0]; changed(); }
  function setWindow(w, l) {
    if (!Number.isFinite(w) || !Number.isFinite(l)) return;
    st.ww = Math.max(1, Math.min(4096, w));
    st.wl = Math.max(-1024, Math.min(3071, l));
    changed();
  }
  function toggle(v) { st.show[v] = !st.show[v]; changed(); }
  function toggleLayout() {
    st.layout = st.layout === "three" ? "single" : "three";
    st.zoom = 1; st.pan = [0, 0];
    changed();
  }
  function zoomBy(f) { st.zoom = Math.max(1, Math.min(8, st.zoom * f)); if (st.zoom === 1) st.pan = [0, 0]; changed(); }
  function reset() {
    const d = presetState(header, opts);
    Object.assign(st, d, { view: st.view, layout: st.layout, panel3: st.panel3 });
    changed();
  }

  // ---------- input ----------
  on(root, "keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || !HANDLED_KEYS.has(e.key)) return; // propagate (1-5, Enter, ...)
    const cause = { t: e.timeStamp, key: e.key };
    STATS.keys.push({ key: e.key, t: e.timeStamp });
    const a = axisOf[st.view];
    switch (e.key) {
      case "ArrowUp": setSlice(st.pos[a] + 1, cause); break;
      case "ArrowDown": setSlice(st.pos[a] - 1, cause); break;
      case "PageUp": setSlice(st.pos[a] + 10, cause); break;
      case "PageDown": setSlice(st.pos[a] - 10, cause); break;
      case "Home": setSlice(0, cause); break;
      case "End": setSlice(nSlices() - 1, cause); break;
      case "a": setView("axial"); break;
      case "c": setView("coronal"); break;
      case "s": setView("sagittal"); break;
      case "b": setWindow(...PRESETS.abdomen); break;
      case "l": setWindow(...PRESETS.liver); break;
      case "o": st.outline = !st.outline; changed(); break;
      case "v": toggle(1); break;
      case "t": toggle(2); break;
      case "h": { const any = st.show[1] || st.show[2]; st.show[1] = st.show[2] = !any; changed(); break; }
      case "+": case "=": zoomBy(1.25); break;
      case "-": zoomBy(0.8); break;
      case "r": reset(); break;
      case "f": toggleFullScreen(); break;
      case "m": setTool("ruler"); break;
      case "e": setTool("roi"); break;
      case "n": jumpLesion(1); break;
      case "p": jumpLesion(-1); break;
      case "x": toggleLayout(); break;
    }
    e.preventDefault();
    e.stopPropagation();
  });
  // one slice per mouse-wheel notch; small trackpad deltas accumulate to 50 px per slice
  let wheelAcc = 0;
  on(grid, "wheel", (e) => {
    e.preventDefault();
    const dy = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY;
    let steps;
    if (Math.abs(dy) >= 50) {
      steps = -Math.sign(dy);
      wheelAcc = 0;
    } else {
      wheelAcc += dy;
      const n = Math.trunc(wheelAcc / 50);
      wheelAcc -= n * 50;
      steps = -n;
    }
    if (!steps) return;
    // three views: the wheel scrolls the view under the pointer
    const over = st.layout === "three" && e.target && e.target.dataset && e.target.dataset.view;
    const a = axisOf[over || st.view];
    setSlice(st.pos[a] + steps, { t: e.timeStamp, key: "wheel" }, a);
  }, { passive: false });

  function pixelOf(canvas, e, view = st.view) {
    // image pixel (label grid) under the pointer, undoing zoom and pan
    const rect = canvas.getBoundingClientRect();
    const fx = (e.clientX - rect.left) / rect.width, fy = (e.clientY - rect.top) / rect.height;
    const z = st.zoom;
    const ux = (fx - (1 - z) / 2 - st.pan[0]) / z, uy = (fy - (1 - z) / 2 - st.pan[1]) / z;
    const g = viewGeom(view);
    const c = Math.floor(ux * g.w), r = Math.floor(uy * g.h);
    if (c < 0 || r < 0 || c >= g.w || r >= g.h) return null;
    return [c, r];
  }
  function labelAt(b, i, j, k) {
    if (!b || i < b.x0 || i >= b.x1 || j < b.y0 || j >= b.y1 || k < b.z0 || k >= b.z1) return 0;
    return b.crop[((k - b.z0) * b.by + (j - b.y0)) * b.bx + (i - b.x0)];
  }
  function huAt(i, j, k) {
    const cx = Math.floor(i / F), cy = Math.floor(j / F);
    return dec.hu[(k * CY + cy) * CX + cx];
  }
  // the HU readout follows the pointer AND every redraw (keys, wheel, slider): it always
  // describes the voxel under the pointer on the slice now on screen
  let hover = null;
  // three views: the readout describes the crosshair voxel
  function readout() {
    if (!dec) return;
    let i, j, k, lab;
    if (st.layout === "three") {
      [i, j, k] = st.pos;
      lab = labelAt(dec.labels[panel3()], i, j, k);
    } else {
      if (!hover) return;
      const px = pixelOf(panels[hover.pi].canvas, hover);
      if (!px) {
        status.textContent = "";
        delete status.dataset.hu;
        delete status.dataset.voxel;
        return;
      }
      [i, j, k] = voxelAt(px[0], px[1]);
      lab = labelAt(dec.labels[hover.pi], i, j, k);
    }
    const hu = dec.ready[k] ? huAt(i, j, k) : "\u2026";
    const approx = F > 1 ? ` (${F}\u00d7${F} mean)` : HU_STEP > 1 ? ` (\u00b1${HU_STEP / 2})` : "";
    status.textContent = `voxel (${i}, ${j}, ${k})  HU ${hu}${approx}${lab ? "  " + NAMES[lab] : ""}`;
    status.dataset.hu = String(hu);
    status.dataset.voxel = `${i},${j},${k}`;
  }
  let drag = null;
  // pointer handling of one canvas: a panel in one view (fixed null: the current view) or
  // one of the three views (fixed: its view; pi: the chosen panel)
  function attach(p, pi, fixed) {
    const vw = () => fixed || st.view;
    on(p.canvas, "pointermove", (e) => {
      if (!dec) return;
      if (drag) {
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
        if (!drag.moved) return; // a click with a tremor must not change the window
        if (drag.tool) {
          const px = pixelOf(p.canvas, e, vw());
          if (px && drag.a) {
            measure = { kind: drag.tool, view: vw(), slice: st.pos[axisOf[vw()]], a: drag.a, b: px };
            requestDraw();
            showMeasure();
          }
          return;
        }
        if (drag.pan) {
          st.pan = [drag.pan0[0] + dx / p.canvas.clientWidth, drag.pan0[1] + dy / p.canvas.clientHeight];
        } else {
          st.ww = Math.max(1, drag.ww + dx * 2);
          st.wl = Math.max(-1024, Math.min(3071, drag.wl - dy * 2));
        }
        changed();
        return;
      }
      if (fixed) return; // three views: the readout stays on the crosshair voxel
      hover = { pi, clientX: e.clientX, clientY: e.clientY };
      readout();
    });
    on(p.canvas, "pointerleave", () => { if (!drag && !fixed) { hover = null; status.textContent = ""; } });
    on(p.canvas, "pointerdown", (e) => {
      root.focus({ preventScroll: true });
      const pan = e.shiftKey || e.button === 1;
      drag = { x: e.clientX, y: e.clientY, ww: st.ww, wl: st.wl, pan0: st.pan.slice(), pan, moved: false };
      if (tool && !fixed && !pan && e.button === 0) { drag.tool = tool; drag.a = pixelOf(p.canvas, e); }
      p.canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    on(p.canvas, "pointerup", (e) => {
      if (drag && !drag.moved && dec && !drag.tool) {
        const px = pixelOf(p.canvas, e, vw());
        if (px) {
          const v = voxelAt(px[0], px[1], vw());
          const a = axisOf[vw()];
          v[a] = st.pos[a];
          st.pos = v;
          if (fixed) st.view = fixed; // the clicked view is the active one (keys, slider)
          else st.panel3 = pi; // the panel the three-view layout shows
          changed();
        }
      }
      drag = null;
    });
    on(p.canvas, "contextmenu", (e) => e.preventDefault());
  }
  panels.forEach((p, pi) => attach(p, pi, null));
  trio.forEach((t) => attach(t, -1, t.view));
  const ro = new ResizeObserver(() => requestDraw());
  ro.observe(grid);

  // ---------- decode (first slab first), then first draw ----------
  const entry = getDecoded(header, ctBody, body, st.pos[2]);
  const onSlab = (s) => {
    // a newly decoded slab: redraw if it holds what is on screen
    if (!dec || disposed) return;
    const k = st.pos[2];
    if (st.view !== "axial" || st.layout === "three" || (k >= s.z0 && k < s.z1)) requestDraw();
  };
  entry.listeners.add(onSlab);
  entry.first.then((d) => {
    if (disposed) return;
    dec = d;
    const tDecoded = performance.now();
    const ct = header.ct;
    status.textContent = ct.factor > 1
      ? `CT sent at ${ct.shape[0]}\u00d7${ct.shape[1]} (${ct.factor}\u00d7 in-plane); HU = block mean`
      : (ct.hu_step || 1) > 1 ? `CT at full resolution in ${ct.hu_step} HU steps` : "";
    draw();
    requestAnimationFrame(() => setTimeout(() => {
      STATS.opens.push({ payload: header.id, key: stateKey, t_call: tCall, t_decoded: tDecoded, t_painted: performance.now(), bytes: body.length, ct_held: !!header.ct.held });
    }, 0));
    if (opts.autofocus) root.focus({ preventScroll: true });
    entry.done.then(() => {
      if (!disposed) STATS.opens.at(-1) && (STATS.opens.at(-1).t_all_decoded = performance.now());
    });
  });
  entry.done.catch((err) => {
    status.textContent = `Viewer could not decode the case: ${err.message}`;
    status.classList.add("lsv-error");
    STATS.errors.push(String(err));
  });

  return () => {
    disposed = true;
    entry.listeners.delete(onSlab);
    ro.disconnect();
    clearTimeout(reportTimer);
    if (pending !== null) cancelAnimationFrame(pending);
    for (const [t, type, fn, o] of listeners) t.removeEventListener(type, fn, o);
    root.remove();
  };
}
