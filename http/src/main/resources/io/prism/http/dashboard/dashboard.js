// Prism's live dashboard. Polls GET /admin/dashboard (one JSON document, see DashboardJson.java) and
// draws it with plain DOM and SVG: no library, nothing loaded from elsewhere (the page's
// Content-Security-Policy allows only this server).
//
// Every number drawn sits in an element carrying data-field (and data-gpu / data-model where it
// belongs to one), byte counts also in data-bytes, so a test can read the rendered page back
// (DashboardIT compares them with GET /admin/gpus).
//
// The admin API key, when the server has one, is typed into the page (or given once as the URL
// fragment #key=..., which browsers never send to a server), kept in this tab's sessionStorage and
// sent as "Authorization: Bearer <key>".
'use strict';
(() => {
  const KEY_STORE = 'prism.adminKey';
  const HISTORY_POINTS = 150; // polls kept for the charts
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const FREE_COLOR = '#e3e7ed';
  const RESERVE_COLOR = '#8fa3b8';
  const OTHER_WEIGHTS_COLOR = '#4a4f57';

  let adminKey = sessionStorage.getItem(KEY_STORE) || '';
  let timer = null;
  let inFlight = false;
  let polls = 0;
  let needKey = false; // a 401/403 stops the polling until a key is given
  const memoryHistory = new Map(); // GPU id -> [{weights, kv, reserve, free}] as fractions of the budget
  const attainmentHistory = []; // [{ttft, tpot, both}] fractions or null, oldest first

  // ---- small DOM helpers ----
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    for (const c of children) e.append(c);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }

  /** A value cell: text shown, data-field (and the given data-*) for whoever reads the page back. */
  function field(tag, name, text, data) {
    const attrs = {'data-field': name};
    for (const [k, v] of Object.entries(data || {})) attrs['data-' + k] = v;
    return el(tag, attrs, text);
  }

  // ---- formatting ----
  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n, i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[i];
  }

  function percent(f) {
    return f === null || f === undefined ? '–' : (100 * f).toFixed(1) + '%';
  }

  function millis(ms) {
    if (ms === null || ms === undefined) return '–';
    return ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms.toFixed(ms >= 100 ? 0 : 1) + ' ms';
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], {hour12: false});
  }

  /** A model's hue, stable across polls and pages. */
  function hue(model) {
    let h = 0;
    for (let i = 0; i < model.length; i++) h = (h * 31 + model.charCodeAt(i)) >>> 0;
    return (h % 360 + 360) % 360;
  }

  function segmentColor(s) {
    if (s.kind === 'free') return FREE_COLOR;
    if (s.kind === 'reserve') return RESERVE_COLOR;
    if (!s.model) return OTHER_WEIGHTS_COLOR;
    return s.kind === 'weights' ? `hsl(${hue(s.model)}, 55%, 38%)` : `hsl(${hue(s.model)}, 70%, 66%)`;
  }

  function segmentLabel(s) {
    if (s.kind === 'free') return 'free';
    if (s.kind === 'reserve') return 'reserve';
    if (s.kind === 'weights') return s.model ? 'weights ' + s.model : 'weights (other)';
    return 'KV ' + s.model;
  }

  function swatch(color) {
    return svg('svg', {class: 'swatch', width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true'},
        svg('rect', {width: 12, height: 12, rx: 2, fill: color}));
  }

  // ---- state ----
  function setState(state, message) {
    document.body.dataset.state = state;
    const pill = document.getElementById('state');
    pill.textContent = {loading: 'loading', live: 'live', 'auth-needed': 'admin key needed', error: 'error'}[state] || state;
    pill.className = 'pill ' + state;
    const m = document.getElementById('message');
    m.hidden = !message;
    m.textContent = message || '';
  }

  function takeKeyFromFragment() {
    const m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
    if (!m) return;
    adminKey = decodeURIComponent(m[1]);
    sessionStorage.setItem(KEY_STORE, adminKey);
    history.replaceState(null, '', location.pathname + location.search); // the key leaves the address bar
  }

  // ---- polling ----
  async function poll() {
    if (inFlight) return;
    inFlight = true;
    try {
      const headers = {Accept: 'application/json'};
      if (adminKey) headers.Authorization = 'Bearer ' + adminKey;
      const r = await fetch('/admin/dashboard', {headers, cache: 'no-store'});
      const body = await r.json().catch(() => null);
      const why = body && body.error && body.error.message ? body.error.message : r.status + ' ' + r.statusText;
      if (r.status === 401 || r.status === 403) {
        needKey = true;
        setState('auth-needed', (adminKey ? 'The key was refused: ' : 'This server needs its admin API key: type it above. ') + why);
      } else if (!r.ok || !body) {
        setState('error', 'GET /admin/dashboard failed: ' + why + ' (showing the last data)');
      } else {
        render(body);
        polls++;
        document.body.dataset.polls = String(polls);
        setState('live', '');
      }
    } catch (e) {
      setState('error', 'Cannot reach the server: ' + e.message + ' (showing the last data)');
    } finally {
      inFlight = false;
      if (!needKey) schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    const every = Number(document.getElementById('interval').value);
    if (every > 0) timer = setTimeout(poll, every);
  }

  // ---- rendering ----
  function render(d) {
    const updated = document.getElementById('updated');
    updated.replaceChildren('updated ' + clock(d.time_ms) + (d.gpus_age_ms > 1000 ? ` (GPU status ${(d.gpus_age_ms / 1000).toFixed(1)} s old)` : ''));
    updated.dataset.timeMs = d.time_ms;
    document.getElementById('window').textContent = `over the last ${d.slo_window_seconds} s, requests through this node`;
    renderTotals(d.totals);
    renderSlo(d.slo);
    renderGpus(d.gpus);
    renderEvents(d.events);
  }

  function renderTotals(t) {
    attainmentHistory.push({ttft: t.ttft_attainment, tpot: t.tpot_attainment, both: t.attainment});
    if (attainmentHistory.length > HISTORY_POINTS) attainmentHistory.shift();
    const tile = (label, name, text, cls) => el('div', {class: 'tile ' + (cls || '')}, el('div', {class: 'label'}, label), field('div', name, text, {scope: 'total'}));
    const grade = f => f === null || f === undefined ? '' : f >= 0.99 ? 'good' : f >= 0.9 ? 'fair' : 'bad';
    document.getElementById('totals').replaceChildren(
        tile('TTFT attainment', 'ttft_attainment', percent(t.ttft_attainment), grade(t.ttft_attainment)),
        tile('TPOT attainment', 'tpot_attainment', percent(t.tpot_attainment), grade(t.tpot_attainment)),
        tile('both (SLO attainment)', 'attainment', percent(t.attainment), grade(t.attainment)),
        tile('requests', 'requests', t.requests),
        tile('refused', 'refused', t.refused),
        tile('failed', 'failed', t.failed));
    document.getElementById('attainment-chart').replaceChildren(lineChart(attainmentHistory, [
      {key: 'ttft', color: '#2f7ed8', label: 'TTFT'}, {key: 'tpot', color: '#8e44ad', label: 'TPOT'}, {key: 'both', color: '#1b9e4b', label: 'both'}]));
  }

  /** Lines of fractions in [0, 1] over the polls; a null breaks its line. */
  function lineChart(points, series) {
    const w = 600, h = 90;
    const chart = svg('svg', {viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', class: 'lines', role: 'img', 'aria-label': 'attainment over time'});
    for (const y of [0, 0.5, 0.9, 0.99, 1]) {
      chart.append(svg('line', {x1: 0, x2: w, y1: (1 - y) * (h - 4) + 2, y2: (1 - y) * (h - 4) + 2, class: 'grid'}));
    }
    const step = w / (HISTORY_POINTS - 1);
    for (const s of series) {
      let run = [];
      const flush = () => {
        if (run.length > 0) chart.append(svg('polyline', {points: run.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke'}));
        run = [];
      };
      points.forEach((p, i) => {
        const v = p[s.key];
        if (v === null || v === undefined) { flush(); return; }
        run.push(`${(i + HISTORY_POINTS - points.length) * step},${(1 - v) * (h - 4) + 2}`);
        if (points.length === 1) run.push(`${w},${(1 - v) * (h - 4) + 2}`);
      });
      flush();
    }
    const legend = el('div', {class: 'legend'});
    for (const s of series) legend.append(el('span', {}, swatch(s.color), ' ' + s.label));
    return el('div', {}, chart, legend);
  }

  function renderSlo(rows) {
    const body = document.querySelector('#slo-table tbody');
    body.replaceChildren();
    for (const r of rows) {
      const m = {model: r.model};
      const met = (n, f) => r.requests === 0 ? '–' : `${n} (${percent(f)})`;
      body.append(el('tr', {'data-model': r.model},
          el('td', {}, swatch(`hsl(${hue(r.model)}, 70%, 55%)`), ' ', r.model),
          field('td', 'ttft_slo_ms', millis(r.ttft_slo_ms), m),
          field('td', 'tpot_slo_ms', millis(r.tpot_slo_ms), m),
          field('td', 'requests', r.requests, m),
          field('td', 'ttft_met', met(r.ttft_met, r.ttft_attainment), m),
          field('td', 'tpot_met', met(r.tpot_met, r.tpot_attainment), m),
          field('td', 'both_met', met(r.both_met, r.attainment), m),
          field('td', 'p95_ttft_ms', millis(r.p95_ttft_ms), m),
          field('td', 'p95_tpot_ms', millis(r.p95_tpot_ms), m),
          field('td', 'refused', r.refused, m),
          field('td', 'failed', r.failed, m),
          field('td', 'cancelled', r.cancelled, m)));
    }
  }

  function renderGpus(gpus) {
    const list = document.getElementById('gpu-list');
    list.replaceChildren();
    const seen = new Set();
    for (const g of gpus) {
      seen.add(g.id);
      list.append(gpuCard(g));
    }
    for (const id of [...memoryHistory.keys()]) if (!seen.has(id)) memoryHistory.delete(id);
  }

  function gpuCard(g) {
    const at = {gpu: g.id};
    const card = el('article', {class: 'gpu' + (g.healthy ? '' : ' unhealthy'), 'data-gpu': g.id});
    card.append(el('h3', {}, g.id, ' ', el('small', {class: 'muted'}, g.description),
        ' ', el('span', {class: 'pill ' + (g.healthy ? 'live' : 'error')}, g.healthy ? 'healthy' : 'unhealthy')));
    if (!g.healthy && g.problem) card.append(el('p', {class: 'problem'}, g.problem));
    if (g.invariant_violation) card.append(el('p', {class: 'problem'}, 'page conservation: ' + g.invariant_violation));

    // the memory map: one bar, the budget split into weights, KV pages per model, reserve, free
    const budget = Math.max(1, g.budget_bytes);
    const bar = svg('svg', {class: 'memory', viewBox: '0 0 1000 28', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'memory map of ' + g.id});
    let x = 0;
    const legend = el('ul', {class: 'legend'});
    for (const s of g.memory) {
      const w = 1000 * s.bytes / budget;
      const tip = `${segmentLabel(s)}: ${bytes(s.bytes)}` + (s.pages !== undefined ? `, ${s.pages} pages` : '');
      if (w > 0) bar.append(svg('rect', {x, y: 0, width: w, height: 28, fill: segmentColor(s)}, svg('title', {}, document.createTextNode(tip))));
      x += w;
      const data = {gpu: g.id, kind: s.kind, model: s.model, bytes: s.bytes};
      legend.append(el('li', {}, swatch(segmentColor(s)), ' ' + segmentLabel(s) + ' ',
          field('span', 'segment_bytes', bytes(s.bytes), data),
          s.pages !== undefined ? el('span', {class: 'muted'}, ' (', field('span', 'segment_pages', s.pages, data), ' pages)') : null));
    }
    card.append(bar, legend);

    const facts = el('dl', {class: 'facts'});
    const fact = (label, node) => facts.append(el('div', {}, el('dt', {}, label), el('dd', {}, node)));
    fact('budget', field('span', 'budget_bytes', bytes(g.budget_bytes), {gpu: g.id, bytes: g.budget_bytes}));
    fact('weights', field('span', 'weight_bytes', bytes(g.weight_bytes), {gpu: g.id, bytes: g.weight_bytes}));
    fact('KV pages held', field('span', 'held_pages', g.held_pages, at));
    fact('reserve pages', field('span', 'reserve_pages', g.reserve_pages, at));
    fact('free pages', field('span', 'free_pages', g.free_pages, at));
    fact('capacity pages', field('span', 'capacity_pages', g.capacity_pages, at));
    fact('page', field('span', 'page_bytes', bytes(g.page_bytes), {gpu: g.id, bytes: g.page_bytes}));
    fact('deadline queue', field('span', 'queued', g.queued, at));
    fact('KVPR', field('span', 'kvpr', g.kvpr === null ? '–' : g.kvpr.toPrecision(3), at));
    card.append(facts);

    // memory over time: stacked fractions of the budget
    const h = memoryHistory.get(g.id) || [];
    const sum = kind => g.memory.filter(s => s.kind === kind).reduce((a, s) => a + s.bytes, 0) / budget;
    h.push({weights: sum('weights'), kv: sum('kv'), reserve: sum('reserve'), free: sum('free')});
    if (h.length > HISTORY_POINTS) h.shift();
    memoryHistory.set(g.id, h);
    card.append(stackChart(h));

    const table = el('table', {class: 'models'});
    table.append(el('thead', {}, el('tr', {}, ...['model', 'weights', 'size', 'KV held', 'in use', 'kept', 'waiting', 'running', 'tok/s']
        .map(t => el('th', {}, t)))));
    const body = el('tbody');
    for (const m of g.models) {
      const d = {gpu: g.id, model: m.id};
      body.append(el('tr', {'data-gpu': g.id, 'data-model': m.id},
          el('td', {}, swatch(`hsl(${hue(m.id)}, 70%, 55%)`), ' ', m.id),
          field('td', 'resident', m.resident ? 'resident' : 'evicted (' + m.tier + ')', {gpu: g.id, model: m.id, value: m.resident}),
          field('td', 'model_weight_bytes', bytes(m.weight_bytes), {gpu: g.id, model: m.id, bytes: m.weight_bytes}),
          field('td', 'pages_held', m.pages_held, d),
          field('td', 'pages_in_use', m.pages_in_use, d),
          field('td', 'pages_kept', m.pages_kept, d),
          field('td', 'waiting', m.queued + m.waiting, {gpu: g.id, model: m.id, queued: m.queued, engine: m.waiting}),
          field('td', 'running', m.running, d),
          field('td', 'tokens_per_second', m.tokens_per_second === null ? '–' : m.tokens_per_second.toFixed(1), d)));
    }
    if (g.models.length === 0) body.append(el('tr', {}, el('td', {colspan: 9, class: 'muted'}, 'no model on this GPU')));
    table.append(body);
    card.append(table);
    return card;
  }

  /** Stacked areas (weights, KV, reserve, free) over the polls, each a fraction of the budget. */
  function stackChart(points) {
    const w = 600, h = 60;
    const chart = svg('svg', {viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', class: 'stack', role: 'img', 'aria-label': 'memory over time'});
    const layers = [['weights', OTHER_WEIGHTS_COLOR], ['kv', 'hsl(200, 70%, 60%)'], ['reserve', RESERVE_COLOR], ['free', FREE_COLOR]];
    const step = w / (HISTORY_POINTS - 1);
    const x0 = (HISTORY_POINTS - points.length) * step;
    const xs = points.map((_, i) => x0 + i * step);
    if (points.length === 1) xs.push(w);
    const pts = points.length === 1 ? [points[0], points[0]] : points;
    let below = pts.map(() => 0);
    for (const [key, color] of layers) {
      const above = pts.map((p, i) => below[i] + p[key]);
      const top = above.map((v, i) => `${xs[i]},${h - v * h}`);
      const bottom = below.map((v, i) => `${xs[i]},${h - v * h}`).reverse();
      chart.append(svg('polygon', {points: top.concat(bottom).join(' '), fill: color}));
      below = above;
    }
    const legend = el('div', {class: 'legend'});
    for (const [key, color] of layers) legend.append(el('span', {}, swatch(color), ' ' + (key === 'kv' ? 'KV' : key)));
    return el('div', {class: 'chart'}, chart, legend);
  }

  function renderEvents(events) {
    const list = document.getElementById('event-list');
    list.replaceChildren();
    for (const e of events) {
      list.append(el('li', {'data-kind': e.kind, 'data-time-ms': e.time_ms},
          el('time', {datetime: e.time}, clock(e.time_ms)), ' ',
          el('span', {class: 'kind ' + e.source}, e.kind), ' ',
          el('span', {class: 'muted'}, e.gpu), ' ',
          e.model ? el('strong', {}, e.model) : '', ' ',
          e.detail));
    }
    if (events.length === 0) list.append(el('li', {class: 'muted'}, 'no recent events'));
  }

  // ---- start ----
  document.getElementById('key-form').addEventListener('submit', ev => {
    ev.preventDefault();
    const input = document.getElementById('key');
    adminKey = input.value.trim();
    input.value = '';
    if (adminKey) sessionStorage.setItem(KEY_STORE, adminKey);
    else sessionStorage.removeItem(KEY_STORE);
    needKey = false;
    poll();
  });
  document.getElementById('interval').addEventListener('change', () => (inFlight ? null : poll()));
  takeKeyFromFragment();
  poll();
})();
