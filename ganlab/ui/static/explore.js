// The Explore tab's main image, rendered in the page: onnxruntime-web runs the generator the server
// exported for this browser (ui/explore_client.py), so a slider move is a few vector sums and one G
// forward here, with no round trip. Whatever this file cannot draw exactly as the server would (noise
// modes, a projected image, a malformed value, no WebAssembly, a model that failed to load) it hands
// to the server by clicking the hidden #explore-render-server button: the server path, unchanged.
//
// Gradio calls window.ganlabExplore.render(values) on every control event, values in the order of
// offer.keys (VIEW_KEYS); it returns the caption, or undefined when the server renders.
// window.ganlabRenderTimes collects, per frame drawn here, the ms from the input event to the new
// pixels on the canvas over the <img>, for bench/latency.py.
(() => {
  "use strict";
  const N_PIXELS = 128;                 // the picture's width as the server sends it (ui/explore.py LIVE_PX)
  const state = {model: null, loaded: null, opening: 0, busy: false, pending: null, lastInput: null};
  window.ganlabRenderTimes = [];
  window.ganlabRenderSplits = [];
  window.ganlabRenderPath = "server";

  // The newest input event on an Explore control: a frame is timed from the hand that asked for it.
  // A live slider's own input event renders at once, from the values Gradio last passed with this one
  // changed, rather than after Gradio's dispatch (which gathers every control's state first); Gradio's
  // call for the same values then only returns the caption.
  document.addEventListener("input", (e) => {
    const el = e.target && e.target.closest && e.target.closest("[id^='explore-']");
    if (!el) return;
    state.lastInput = e.timeStamp;
    const m = state.model, key = m && m.live[el.id];
    if (key && e.target.type === "range" && state.values) {
      const values = state.values.slice();
      values[m.keys.indexOf(key)] = Number(e.target.value);
      render(values);
    }
  }, true);

  const serverRender = () => {
    const button = document.querySelector("#explore-render-server");
    if (button) button.click();
  };
  const onServer = (why) => {
    window.ganlabRenderPath = "server";
    return "rendering on the server" + (why ? ` (${why})` : "");
  };
  const setNote = (text) => {
    const el = document.querySelector("#explore-render-note");
    if (el) (el.querySelector(".prose, p") || el).textContent = text;
  };

  // ---- opening a model ------------------------------------------------------------------------------
  async function open(offer, ...values) {
    const mine = ++state.opening;
    state.model = null;
    state.values = values.length ? values : null;
    if (!offer || !offer.base) return onServer(offer && offer.server);
    if (typeof WebAssembly !== "object" || typeof ort === "undefined") return onServer("no WebAssembly here");
    const base = new URL(offer.base, document.baseURI).href;
    try {
      let m = state.loaded && state.loaded.base === base ? state.loaded : null;
      if (!m) {
        m = await load(base, offer.keys, offer.live || {});
        m.where = offer.model;
        await draw(m, parseView(m, defaults(m)));                  // the first run compiles the graph
      }
      if (mine !== state.opening) return undefined;                // another model was opened meanwhile
      state.model = state.loaded = m;
      window.ganlabRenderPath = "browser";
      return "rendering in your browser (WebAssembly)";
    } catch (e) {
      console.warn("ganlab: cannot render this model in the browser; the server renders it", e);
      return mine === state.opening ? onServer("the browser could not load the model") : undefined;
    }
  }

  async function load(base, keys, live) {
    const claim = await fetch(base + "claim");                     // binds the URLs to this browser (a cookie)
    if (!claim.ok) throw new Error(`claim: HTTP ${claim.status}`);
    const res = await fetch(base + "meta.json");
    if (!res.ok) throw new Error(`meta.json: HTTP ${res.status}`);
    const meta = await res.json();
    ort.env.wasm.numThreads = 1;                                    // no SharedArrayBuffer needed
    ort.env.wasm.wasmPaths = new URL("ganlab/static/ort/", document.baseURI).href;
    const sessions = {};
    for (const file of meta.files) {
      sessions[file.replace(".onnx", "")] = await ort.InferenceSession.create(
        base + file, {executionProviders: ["wasm"], graphOptimizationLevel: "all"});
    }
    return {base, keys, live, meta, sessions, z: new Map(), w: new Map(), pending: new Map()};
  }

  function close() {
    state.opening++;
    state.model = state.asked = null;
  }

  // ---- the view: the same reading of the controls as ExploreHandlers (ui/explore.py) -------------------
  function defaults(m) {
    return m.keys.map((k) => ({seed_a: 1, seed_b: 2, t: 0, psi: 1}[k] ?? null));
  }

  const num = (v, dflt) => (v === null || v === undefined || v === "" ? dflt : Number(v));
  const seedOk = (s) => Number.isInteger(s) && s >= 0 && s < 2 ** 31;

  // values -> a view this file can draw, or null (the server draws it, and says what is wrong if anything)
  function parseView(m, values) {
    const v = {};
    m.keys.forEach((k, i) => { v[k] = values[i]; });
    const meta = m.meta;
    const view = {
      a: num(v.seed_a, NaN), b: num(v.seed_b, NaN), mode: v.mode || "slerp", t: num(v.t, 0), psi: num(v.psi, 1),
      amounts: [0, 1, 2, 3, 4].map((i) => num(v[`pc${i}`], 0)), dim: null, dimAmount: num(v.dim_amount, 0),
      space: String(v.space || "W").toUpperCase(), layers: v.dir_layers || "all",
      classA: v.class_a, classB: v.class_b, blend: num(v.blend, 0),
    };
    if (!seedOk(view.a) || !seedOk(view.b) || !["lerp", "slerp"].includes(view.mode)) return null;
    if (![view.t, view.psi, view.blend, view.dimAmount, ...view.amounts].every(Number.isFinite)) return null;
    if (!(view.psi >= 0 && view.psi <= 1.5) || v.own) return null;
    if (view.dimAmount) {
      const d = num(v.dim, NaN);
      if (!Number.isInteger(d) || d < 0 || d >= meta.z_dim) return null;
      view.dim = d;
    }
    if (meta.kind === "style") {
      if ((v.noise || "fixed") !== "fixed" || !["W", "Z"].includes(view.space)) return null;
      if (view.layers !== "all" && !meta.layer_groups[view.layers]) return null;
    } else if (meta.conditional) {
      view.ia = classIndex(meta, view.classA || meta.class_names[0]);
      view.ib = classIndex(meta, view.classB || view.classA || meta.class_names[0]);
      if (view.ia < 0 || view.ib < 0) return null;
    }
    return view;
  }

  function classIndex(meta, name) {
    const names = meta.class_names, s = String(name);
    let i = names.indexOf(s);
    if (i < 0) i = names.map((n) => n.toLowerCase()).indexOf(s.toLowerCase());
    if (i < 0 && /^\d+$/.test(s) && Number(s) < names.length) i = Number(s);
    return i;
  }

  // ---- vector sums (Float32Array [n]), as ganlab/explore.py does them in torch --------------------------
  const lerp = (a, b, t) => a.map((x, i) => x + (b[i] - x) * t);
  const norm = (a) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

  function slerp(a, b, t) {
    const na = norm(a), nb = norm(b), ua = a.map((x) => x / Math.max(na, 1e-12)), ub = b.map((x) => x / Math.max(nb, 1e-12));
    const cos = Math.min(1, Math.max(-1, ua.reduce((s, x, i) => s + x * ub[i], 0)));
    const omega = Math.acos(cos), so = Math.sin(omega);
    if (Math.abs(so) < 1e-6) return lerp(a, b, t);                  // (anti)parallel: any path will do
    const ca = Math.sin((1 - t) * omega) / so, cb = Math.sin(t * omega) / so, n = na + (nb - na) * t;
    return ua.map((x, i) => (ca * x + cb * ub[i]) * n);
  }

  function interpolate(a, b, t, mode) {
    if (t <= 0) return a.slice();
    if (t >= 1) return b.slice();
    return mode === "lerp" ? lerp(a, b, t) : slerp(a, b, t);
  }

  // z + sum_i amounts[i] * scales[i] * vectors[i]: GANSpace's sliders are in sigmas of the noise
  function moved(x, amounts, dirs) {
    const out = x.slice();
    amounts.forEach((a, i) => {
      if (!a || i >= dirs.vectors.length) return;
      const v = dirs.vectors[i], s = a * dirs.scales[i];
      for (let j = 0; j < out.length; j++) out[j] += s * v[j];
    });
    return out;
  }

  // ---- noise and styles -------------------------------------------------------------------------------
  async function zOf(m, seed) {
    if (m.z.has(seed)) return m.z.get(seed);
    if (!m.pending.has(seed)) {
      m.pending.set(seed, fetch(`${m.base}z?seeds=${seed}`).then(async (res) => {
        if (!res.ok) throw new Error(`z: HTTP ${res.status}`);
        const z = Float32Array.from((await res.json())[String(seed)]);
        m.z.set(seed, z);
        m.pending.delete(seed);
        return z;
      }));
    }
    return m.pending.get(seed);
  }

  async function run(session, feeds) {
    const out = await session.run(feeds);
    return out[session.outputNames[0]];
  }

  // w [w_dim] of noise z [z_dim], truncated towards w_avg by psi (StyleGenerator.truncate)
  async function wOf(m, z, psi) {
    const w = (await run(m.sessions.mapping, {z: new ort.Tensor("float32", z, [1, z.length])})).data;
    if (psi === 1) return Float32Array.from(w);
    const avg = m.meta.w_avg;
    return Float32Array.from(w, (x, i) => avg[i] + psi * (x - avg[i]));
  }

  async function cachedW(m, seed, view) {
    const key = `${seed}|${view.dim}|${view.dimAmount}|${view.psi}`;
    if (!m.w.has(key)) {
      if (m.w.size > 256) m.w.clear();
      m.w.set(key, await wOf(m, withDim(await zOf(m, seed), view), view.psi));
    }
    return m.w.get(key);
  }

  function withDim(z, view) {
    if (view.dim === null) return z;
    const out = z.slice();
    out[view.dim] += view.dimAmount;
    return out;
  }

  // images [1, C, H, W] in [-1, 1] for a view
  async function draw(m, view) {
    const meta = m.meta;
    if (meta.kind === "style") {
      let w;
      if (view.space === "W") {                                      // a straight line between two w's
        const [wa, wb] = await Promise.all([cachedW(m, view.a, view), cachedW(m, view.b, view)]);
        w = interpolate(wa, wb, view.t, "lerp");
      } else {                                                       // a path in z, every point mapped
        const [za, zb] = await Promise.all([zOf(m, view.a), zOf(m, view.b)]);
        w = await wOf(m, interpolate(withDim(za, view), withDim(zb, view), view.t, view.mode), view.psi);
      }
      const step = moved(new Float32Array(w.length), view.amounts, meta.directions);
      const layers = view.layers === "all" ? null : new Set(meta.layer_groups[view.layers]);
      const ws = new Float32Array(meta.num_ws * meta.w_dim);         // [1, num_ws, w_dim]: W, then edits
      for (let l = 0; l < meta.num_ws; l++) {
        const on = !layers || layers.has(l);
        for (let j = 0; j < meta.w_dim; j++) ws[l * meta.w_dim + j] = w[j] + (on ? step[j] : 0);
      }
      return run(m.sessions.synthesis, {ws: new ort.Tensor("float32", ws, [1, meta.num_ws, meta.w_dim])});
    }
    const [za, zb] = await Promise.all([zOf(m, view.a), zOf(m, view.b)]);
    const z = withDim(moved(interpolate(za, zb, view.t, view.mode), view.amounts, meta.directions), view)
      .map((x) => x * view.psi);                                     // truncation in z: towards 0
    const feeds = {z: new ort.Tensor("float32", Float32Array.from(z), [1, meta.z_dim])};
    if (meta.conditional) {
      const y = new Float32Array(meta.class_names.length);            // class weights [1, K]
      y[view.ia] += 1 - view.blend;
      y[view.ib] += view.blend;
      feeds.y = new ort.Tensor("float32", y, [1, y.length]);
    }
    return run(m.sessions.g, feeds);
  }

  // images -> a canvas laid exactly over the server's <img>, enlarged with sharp pixels like the server's
  // picture; a new picture from the server (its src changes) uncovers the <img> again
  function show(m, images) {
    const img = document.querySelector("#explore-image img");
    if (!img) throw new Error("no picture on the page yet");
    const [, C, H, W] = images.dims, x = images.data, rgba = new Uint8ClampedArray(H * W * 4);
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < 3; c++) {
        const v = x[(C === 1 ? 0 : c) * H * W + p];
        rgba[p * 4 + c] = Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
      }
      rgba[p * 4 + 3] = 255;
    }
    const canvas = cover(img, W * Math.max(1, Math.floor(N_PIXELS / W)), H * Math.max(1, Math.floor(N_PIXELS / W)));
    const small = m.small || (m.small = document.createElement("canvas"));
    small.width = W; small.height = H;
    small.getContext("2d").putImageData(new ImageData(rgba, W, H), 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  function cover(img, width, height) {
    const parent = img.parentElement;
    let canvas = parent.querySelector("canvas.ganlab-live");
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.className = "ganlab-live";
      canvas.id = "explore-live-canvas";
      parent.appendChild(canvas);
      watch(img.closest("#explore-image"));
    }
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    const fit = getComputedStyle(img).objectFit;
    canvas.style.cssText = `position:absolute; left:${img.offsetLeft}px; top:${img.offsetTop}px; ` +
      `width:${img.offsetWidth}px; height:${img.offsetHeight}px; object-fit:${fit}; image-rendering:pixelated; ` +
      "pointer-events:none;";
    canvas.dataset.over = img.src;
    return canvas;
  }

  function watch(box) {
    if (!box || box.dataset.watched) return;
    box.dataset.watched = "1";
    new MutationObserver(() => {
      const img = box.querySelector("img"), canvas = box.querySelector("canvas.ganlab-live");
      if (canvas && (!img || img.src !== canvas.dataset.over)) canvas.remove();
    }).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
  }

  // ---- one frame at a time; the newest view wins, timed from the oldest input it answers ---------------
  // The model the page names in its info line (`models/...`): an open chain whose tail comes late must
  // never draw the model opened before it, so the page only draws while the names agree.
  const shown = () => {
    const code = document.querySelector("#explore-info code");
    return code ? code.textContent.trim() : null;
  };

  function render(values) {
    const m = state.model && state.model.where === shown() ? state.model : null;
    const view = m && parseView(m, values);
    state.values = values;
    if (!view) {
      serverRender();
      return undefined;
    }
    const same = JSON.stringify(values);
    if (same === state.asked) return caption(m, view);               // drawn (or drawing) already
    state.asked = same;
    const now = performance.now();
    const t0 = state.lastInput !== null && now - state.lastInput < 1000 ? state.lastInput : now;
    state.lastInput = null;
    state.pending = {view, m, t0: state.pending ? Math.min(state.pending.t0, t0) : t0, asked: now};
    if (!state.busy) drain();
    return caption(m, view);
  }

  async function drain() {
    state.busy = true;
    try {
      while (state.pending) {
        const {view, m, t0, asked} = state.pending;
        state.pending = null;
        if (m !== state.model) continue;                             // a model opened since: drop it
        const started = performance.now();
        const images = await draw(m, view);
        if (m !== state.model) continue;
        const drawn = performance.now();
        show(m, images);
        const end = performance.now();
        window.ganlabRenderTimes.push(end - t0);
        // where a frame's time goes: Gradio's event dispatch, waiting for the frame before, G, the <img>
        window.ganlabRenderSplits.push({dispatch: asked - t0, wait: started - asked, g: drawn - started,
          show: end - drawn});
      }
    } catch (e) {
      console.warn("ganlab: the browser render failed; the server renders from now on", e);
      state.model = state.loaded = null;
      state.pending = state.asked = null;
      window.ganlabRenderPath = "server";
      setNote("rendering on the server (the browser render failed)");
      serverRender();
    } finally {
      state.busy = false;
    }
  }

  // the caption ExploreHandlers.caption writes for the same view
  function caption(m, view) {
    const sign = (x) => (x >= 0 ? "+" : "") + x.toFixed(1);
    const parts = [`seed A ${view.a} → seed B ${view.b}`, `t ${view.t.toFixed(2)} (${view.mode})`,
      `ψ ${view.psi.toFixed(2)}`];
    const pcs = view.amounts.map((a, i) => (a ? `PC${i + 1} ${sign(a)}σ` : null)).filter(Boolean);
    if (pcs.length) parts.push(pcs.join(", "));
    if (view.dim !== null) parts.push(`z[${view.dim}] ${sign(view.dimAmount)}`);
    if (m.meta.conditional) {
      const a = view.classA || m.meta.class_names[0], b = view.classB || view.classA;
      const pct = (x) => `${Math.round(x * 100)}%`;
      parts.push(view.blend === 0 || a === b ? a : `${pct(1 - view.blend)} ${a} + ${pct(view.blend)} ${b}`);
    }
    if (m.meta.kind === "style") {
      parts.push(`in ${view.space}`);
      if (view.amounts.some((a) => a) && view.layers !== "all") parts.push(`directions on ${view.layers} layers`);
    }
    return parts.join(" · ");
  }

  window.ganlabExplore = {open, close, render, state};
})();
