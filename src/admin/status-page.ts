// The status page at `GET /` on the admin listener: one self-contained HTML document (inline CSS
// and JS, nothing fetched from elsewhere, no build step), so it works through
// `kubectl port-forward`. It polls ./status, ./status/traffic and ./status/history every 2 s with
// relative URLs (so it also works under `kubectl proxy`'s path prefix); rates and p50/p99 per
// backend come from counter and histogram-bucket deltas between polls, computed in the browser.
// ./status/traffic carries just those counters and buckets as JSON: /metrics has them too, but
// as ~5 KB of Prometheus text per backend to render and parse every 2 s. With metrics off it is
// a 404, and the rows fall back to /status's request counts (no 5xx or p50/p99).
// Rows are keyed by backend URL and only changed cells are written, so 500 backends stay cheap.
// The page's JS avoids backticks and `${`: it lives inside a template literal here.

import { createHash } from 'node:crypto';

const STYLE = String.raw`
:root{--bg:#f4f5f7;--panel:#fff;--fg:#1b1f24;--muted:#687385;--line:#e3e6ea;--head:#fafbfc;
--ok:#0f9d58;--bad:#d93025;--warn:#e37400;--unk:#8a94a6;--drain:#7b61ff;--accent:#1a73e8;--err:#d93025;--p99:#e37400;
--okbg:#e6f4ea;--badbg:#fce8e6;--warnbg:#fef3e0;--unkbg:#eef0f3;--drainbg:#efebff;}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--panel:#161a20;--fg:#e3e6ea;--muted:#8b95a5;--line:#262b33;--head:#1b2027;
--okbg:#12301f;--badbg:#3a1715;--warnbg:#3a2a10;--unkbg:#232830;--drainbg:#262040;--accent:#5e9eff;}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;align-items:center;gap:6px 18px;padding:10px 16px;background:var(--panel);border-bottom:1px solid var(--line)}
.brand{font-weight:700;font-size:16px;letter-spacing:.02em}
.muted{color:var(--muted)}
.mono,td.n,td.u{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;font-size:12px}
.b-ok{background:var(--okbg);color:var(--ok)}.b-bad{background:var(--badbg);color:var(--bad)}.b-warn{background:var(--warnbg);color:var(--warn)}
#conn{margin-left:auto}
main{padding:12px 16px;display:grid;gap:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 12px;min-width:0}
.card h2{margin:0 0 4px;font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.big{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.graphs{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
canvas{display:block;width:100%;height:140px}
.legend span{margin-right:10px;font-size:11px}.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.toolbar{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-bottom:8px}
.chip{border:1px solid var(--line);background:var(--panel);color:var(--fg);border-radius:14px;padding:3px 10px;font:inherit;cursor:pointer}
.chip[aria-pressed=true]{border-color:var(--accent);box-shadow:inset 0 0 0 1px var(--accent)}
.chip b{font-variant-numeric:tabular-nums;margin-left:4px}
input[type=search]{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px;background:var(--panel);color:var(--fg);min-width:220px}
.tablewrap{overflow:auto;max-height:75vh;border:1px solid var(--line);border-radius:8px;background:var(--panel)}
table{border-collapse:collapse;width:100%;min-width:1180px;table-layout:fixed}
th,td{padding:3px 8px;text-align:left;white-space:nowrap;border-bottom:1px solid var(--line);overflow:hidden;text-overflow:ellipsis}
th.c-state{width:96px}th.c-url{width:auto}th.c-since{width:58px}th.c-rate{width:66px}th.c-inflight{width:88px}th.c-requests{width:86px}
th.c-errors{width:56px}th.c-p50,th.c-p99{width:72px}th.c-probe{width:210px}th.c-error{width:22%}th.c-pod{width:14%}th.c-node,th.c-zone{width:9%}th.c-weight{width:78px}
table.nometa{min-width:1000px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{position:sticky;top:0;background:var(--head);font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);z-index:1}
th button{all:unset;cursor:pointer}th[aria-sort=ascending] button::after{content:" \25B2"}th[aria-sort=descending] button::after{content:" \25BC"}
tbody tr{border-left:4px solid transparent}
tbody tr:hover{background:var(--head)}
tr.st-healthy{border-left-color:var(--ok)}tr.st-unhealthy{border-left-color:var(--bad);background:var(--badbg)}
tr.st-ejected{border-left-color:var(--warn);background:var(--warnbg)}tr.st-unknown{border-left-color:var(--unk)}tr.st-draining{border-left-color:var(--drain);background:var(--drainbg)}
.pill{display:inline-block;min-width:74px;padding:0 6px;border-radius:8px;font-size:11px;font-weight:650;text-align:center}
.p-healthy{background:var(--okbg);color:var(--ok)}.p-unhealthy{background:var(--badbg);color:var(--bad)}.p-ejected{background:var(--warnbg);color:var(--warn)}
.p-unknown{background:var(--unkbg);color:var(--unk)}.p-draining{background:var(--drainbg);color:var(--drain)}
.hot{color:var(--bad);font-weight:650}.stale{opacity:.55}
table.nometa .meta{display:none}
.empty{padding:16px;text-align:center;color:var(--muted)}
footer{padding:4px 16px 16px;color:var(--muted);font-size:12px}
a{color:var(--accent)}
`;

const SCRIPT = String.raw`
'use strict';
var POLL_MS = 2000, WINDOW_POLLS = 5;
var STATES = ['healthy', 'unhealthy', 'ejected', 'unknown', 'draining'];
var SEVERITY = { unhealthy: 0, ejected: 1, draining: 2, unknown: 3, healthy: 4 };
var COLUMNS = [
  { key: 'state', label: 'State' }, { key: 'url', label: 'Backend' }, { key: 'since', label: 'Since', n: 1 },
  { key: 'rate', label: 'Req/s', n: 1 }, { key: 'inflight', label: 'In-flight', n: 1 }, { key: 'requests', label: 'Requests', n: 1 },
  { key: 'errors', label: '5xx', n: 1 }, { key: 'p50', label: 'p50', n: 1 }, { key: 'p99', label: 'p99', n: 1 },
  { key: 'probe', label: 'Last probe' }, { key: 'error', label: 'Last error' },
  { key: 'pod', label: 'Pod', meta: 1 }, { key: 'node', label: 'Node', meta: 1 }, { key: 'zone', label: 'Zone', meta: 1 },
  { key: 'weight', label: 'Weight', n: 1 }
];
var $ = function (id) { return document.getElementById(id); };
var rows = new Map();
var snaps = [];
var les = null;
var metricsOn = true;
var sortKey = 'state', sortDir = 1, lastOrder = '';
var stateFilter = null, textFilter = '';
var skew = 0;
var lastStatus = null, lastOk = 0;

function now() { return Date.now() + skew; }
function age(iso) {
  if (!iso) return '';
  var s = Math.max(0, Math.round((now() - Date.parse(iso)) / 1000));
  if (s < 90) return s + 's';
  if (s < 5400) return Math.round(s / 60) + 'm';
  if (s < 172800) return Math.round(s / 3600) + 'h';
  return Math.round(s / 86400) + 'd';
}
function ms(v) {
  if (v === null || v === undefined || isNaN(v)) return '\u2013';
  if (v < 1) return v.toFixed(2) + ' ms';
  if (v < 10) return v.toFixed(1) + ' ms';
  if (v < 1000) return Math.round(v) + ' ms';
  return (v / 1000).toFixed(2) + ' s';
}
function num(v, digits) {
  if (v === null || v === undefined || isNaN(v)) return '\u2013';
  if (digits === undefined) return String(v);
  return v >= 100 ? String(Math.round(v)) : v.toFixed(digits);
}
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

// ---- traffic: counters and latency buckets per backend, from ./status/traffic --------------
function fromTraffic(doc) {
  les = doc.boundsMs.concat([Infinity]);
  var per = new Map();
  Object.keys(doc.backends).forEach(function (url) {
    var t = doc.backends[url], b = new Array(t.buckets.length), sum = 0;
    // Summed up like Prometheus le buckets, which is what quantile() reads.
    for (var i = 0; i < t.buckets.length; i++) { sum += t.buckets[i]; b[i] = sum; }
    per.set(url, { req: t.requests, err: t.errors, b: b });
  });
  return per;
}
function fromStatus(status) {
  var per = new Map();
  status.backends.forEach(function (b) { per.set(b.url, { req: b.requests, err: NaN, b: [] }); });
  return per;
}
/** histogram_quantile over cumulative bucket deltas, in ms. */
function quantile(cur, old, q) {
  if (!les || cur.length !== les.length) return null;
  var total = cur[cur.length - 1] - (old ? old[old.length - 1] : 0);
  if (!(total > 0)) return null;
  var rank = q * total, prev = 0;
  for (var i = 0; i < cur.length; i++) {
    var c = cur[i] - (old ? old[i] : 0);
    if (c >= rank) {
      if (les[i] === Infinity) return les[i - 1];
      var lower = i === 0 ? 0 : les[i - 1];
      var inBucket = c - prev;
      return inBucket > 0 ? lower + (les[i] - lower) * ((rank - prev) / inBucket) : les[i];
    }
    prev = c;
  }
  return null;
}
function windowed(url) {
  var cur = snaps[snaps.length - 1], old = null;
  for (var i = 0; i < snaps.length - 1; i++) if (snaps[i].per.has(url)) { old = snaps[i]; break; }
  var c = cur.per.get(url);
  if (!c || !old) return { rate: null, p50: null, p99: null, err: c ? c.err : NaN };
  var o = old.per.get(url), dt = (cur.t - old.t) / 1000;
  if (c.req < o.req || dt <= 0) return { rate: null, p50: null, p99: null, err: c.err };
  var ob = o.b.length === c.b.length ? o.b : null;
  return { rate: (c.req - o.req) / dt, errRate: (c.err - o.err) / dt, p50: quantile(c.b, ob, 0.5), p99: quantile(c.b, ob, 0.99), err: c.err };
}

// ---- the backend table ---------------------------------------------------------------------
function buildHead() {
  var tr = $('head');
  COLUMNS.forEach(function (col) {
    var th = el('th', 'c-' + col.key + (col.n ? ' n' : '') + (col.meta ? ' meta' : ''));
    th.dataset.key = col.key;
    var button = el('button', '', col.label);
    button.type = 'button';
    button.addEventListener('click', function () {
      if (sortKey === col.key) sortDir = -sortDir;
      else { sortKey = col.key; sortDir = col.n && col.key !== 'since' ? -1 : 1; }
      lastOrder = '';
      renderRows();
    });
    th.appendChild(button);
    tr.appendChild(th);
  });
}
function makeRow(url) {
  var tr = el('tr');
  tr.dataset.url = url;
  var cells = {};
  COLUMNS.forEach(function (col) {
    var td = el('td', col.n ? 'n' : col.key === 'url' ? 'u' : col.key === 'error' ? 'e' : '');
    if (col.meta) td.classList.add('meta');
    if (col.key === 'state') { var pill = el('span', 'pill'); td.appendChild(pill); cells.pill = pill; }
    tr.appendChild(td);
    cells[col.key] = td;
  });
  return { tr: tr, cells: cells, url: url, v: {}, state: '' };
}
function updateRow(row, b) {
  var w = windowed(b.url), c = row.cells, v = row.v;
  if (row.state !== b.state) {
    row.tr.className = 'st-' + b.state;
    row.tr.dataset.state = b.state;
    c.pill.className = 'pill p-' + b.state;
    c.pill.textContent = b.state;
    row.state = b.state;
  }
  v.state = SEVERITY[b.state]; v.url = b.url; v.since = Date.parse(b.since); v.rate = w.rate; v.inflight = b.inflight;
  v.requests = b.requests; v.errors = w.err; v.p50 = w.p50; v.p99 = w.p99; v.weight = b.weight;
  v.pod = b.pod || ''; v.node = b.node || ''; v.zone = b.zone || '';
  v.probe = b.lastProbe ? (b.lastProbe.ok ? 1 : 0) : -1; v.error = b.lastErrorAt ? Date.parse(b.lastErrorAt) : 0;
  setText(c.url, b.url);
  var tip = 'source: ' + b.source + (b.ejectedUntil ? '\nejected until ' + b.ejectedUntil : '');
  if (c.url.title !== tip) c.url.title = tip;
  setText(c.since, age(b.since));
  if (c.since.title !== b.since) c.since.title = b.since;
  setText(c.rate, num(w.rate, 1));
  setText(c.inflight, String(b.inflight));
  setText(c.requests, String(b.requests));
  setText(c.errors, num(w.err));
  c.errors.classList.toggle('hot', w.errRate > 0);
  setText(c.p50, ms(w.p50));
  setText(c.p99, ms(w.p99));
  var p = b.lastProbe;
  var probe = p ? (p.ok ? '\u2713 ' : '\u2717 ') + (p.status !== null ? p.status : p.error || 'failed') + ' \u00b7 ' + ms(p.latencyMs) + ' \u00b7 ' + age(p.at) + ' ago' : 'none yet';
  setText(c.probe, probe);
  if (c.probe.title !== probe) c.probe.title = probe;
  c.probe.classList.toggle('hot', !!p && !p.ok);
  setText(c.error, b.lastError ? b.lastError + (b.lastErrorAt ? ' \u00b7 ' + age(b.lastErrorAt) + ' ago' : '') : '');
  if (c.error.title !== (b.lastError || '')) c.error.title = b.lastError || '';
  c.error.classList.toggle('hot', !!b.lastErrorAt && Date.parse(b.lastErrorAt) >= Date.parse(b.since) && b.state !== 'healthy');
  setText(c.pod, v.pod); setText(c.node, v.node); setText(c.zone, v.zone);
  setText(c.weight, String(b.weight));
}
function compare(a, b) {
  var x = a.v[sortKey], y = b.v[sortKey];
  var xn = x === null || x === undefined || (typeof x === 'number' && isNaN(x));
  var yn = y === null || y === undefined || (typeof y === 'number' && isNaN(y));
  if (xn !== yn) return xn ? 1 : -1;
  if (!xn && x !== y) return (x < y ? -1 : 1) * sortDir;
  return a.url < b.url ? -1 : a.url > b.url ? 1 : 0;
}
function renderRows() {
  var list = Array.from(rows.values());
  list.sort(compare);
  var order = list.map(function (r) { return r.url; }).join('\n');
  if (order !== lastOrder) {
    var frag = document.createDocumentFragment();
    list.forEach(function (r) { frag.appendChild(r.tr); });
    $('rows').appendChild(frag);
    lastOrder = order;
  }
  var shown = 0, text = textFilter.toLowerCase();
  list.forEach(function (r) {
    var ok = (!stateFilter || r.state === stateFilter)
      && (!text || (r.url + ' ' + r.v.pod + ' ' + r.v.node + ' ' + r.v.zone).toLowerCase().indexOf(text) >= 0);
    if (r.tr.hidden === ok) r.tr.hidden = !ok;
    if (ok) shown++;
  });
  setText($('shown'), shown === list.length ? list.length + ' backends' : 'showing ' + shown + ' of ' + list.length);
  $('none').hidden = list.length !== 0;
  document.querySelectorAll('#head th').forEach(function (th) {
    var s = th.dataset.key === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none';
    if (th.getAttribute('aria-sort') !== s) th.setAttribute('aria-sort', s);
  });
}

// ---- summary, identity, discovery, config --------------------------------------------------
function buildChips() {
  var bar = $('chips');
  [null].concat(STATES).forEach(function (state) {
    var b = el('button', 'chip');
    b.type = 'button';
    b.dataset.state = state || 'all';
    b.appendChild(document.createTextNode(state || 'all'));
    b.appendChild(el('b', '', '0'));
    b.setAttribute('aria-pressed', String(state === stateFilter));
    b.addEventListener('click', function () {
      stateFilter = stateFilter === state ? null : state;
      bar.querySelectorAll('.chip').forEach(function (c) { c.setAttribute('aria-pressed', String(c.dataset.state === (stateFilter || 'all'))); });
      renderRows();
    });
    bar.appendChild(b);
  });
}
function dl(target, pairs) {
  var box = $(target), frag = document.createDocumentFragment();
  pairs.forEach(function (p) {
    if (p[1] === undefined) return;
    frag.appendChild(el('dt', '', p[0]));
    var dd = el('dd', p[2] || '', p[1] === null || p[1] === '' ? '\u2013' : String(p[1]));
    frag.appendChild(dd);
  });
  box.replaceChildren(frag);
}
function when(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') + ' (' + age(iso) + ' ago)' : null; }
function renderSummary(status, history) {
  var id = status.identity || {}, s = status.summary || {}, by = s.byState || {};
  setText($('host'), id.host || '');
  setText($('ns'), id.namespace ? 'namespace ' + id.namespace : '');
  setText($('version'), 'sluice ' + (id.version || '?') + ' \u00b7 node ' + (id.node || '?') + ' \u00b7 ' + status.balancer);
  setText($('uptime'), 'up ' + age(status.startedAt));
  var ready = $('ready');
  var why = s.notReadyReason || (status.shuttingDown ? 'shutting down' : '');
  setText(ready, status.ready ? 'READY' : 'NOT READY' + (why ? ': ' + why : ''));
  ready.className = 'badge ' + (status.ready ? 'b-ok' : 'b-bad');
  var total = status.backends.length;
  setText($('s-backends'), (by.healthy || 0) + ' / ' + total);
  $('chips').querySelectorAll('.chip').forEach(function (c) {
    var n = c.dataset.state === 'all' ? total : (by[c.dataset.state] || 0);
    setText(c.lastChild, String(n));
  });
  setText($('s-inflight'), String(s.inflight || 0));
  // Traffic from the server-side history: the last ~10 s, unrouted requests included.
  var samples = history ? history.samples.slice(-WINDOW_POLLS) : [];
  var reqs = 0, errs = 0, secs = 0, p50 = null, p99 = null;
  samples.forEach(function (x) { reqs += x.requests; errs += x.errors; secs += history.intervalMs / 1000; });
  var last = samples.length ? samples[samples.length - 1] : null;
  if (last) { p50 = last.p50; p99 = last.p99; }
  setText($('s-rate'), secs ? num(reqs / secs, 1) : '\u2013');
  setText($('s-errors'), reqs ? (100 * errs / reqs).toFixed(errs && errs / reqs < 0.001 ? 3 : 1) + '%' : '0%');
  $('s-errors').classList.toggle('hot', errs > 0);
  setText($('s-lat'), ms(p50) + ' / ' + ms(p99));
  document.title = 'sluice \u00b7 ' + (id.host || '') + ' \u00b7 ' + (by.healthy || 0) + '/' + total + ' healthy';

  var d = status.discovery;
  if (!d) dl('discovery', [['source', 'static: backends from the config file']]);
  else dl('discovery', [
    ['kind', d.kind], ['service', (d.namespace || '') + '/' + (d.service || '') + (d.port ? ':' + d.port : '')],
    ['synced', d.synced ? 'yes' : 'no', d.synced ? '' : 'hot'], ['problem', d.problem || null, d.problem ? 'hot' : ''],
    ['endpoints', (d.endpoints || 0) + ' serving, ' + (d.terminating || 0) + ' terminating'],
    ['last event', when(d.lastEventAt)], ['data age', d.dataAgeSeconds === null ? null : d.dataAgeSeconds + ' s'],
    ['watch restarts', d.watchRestarts], ['relists', d.relists],
    ['last error', d.lastError ? d.lastError.message + ' (' + age(d.lastError.at) + ' ago)' : null, d.lastError ? 'hot' : ''],
    ['API server', d.server]
  ]);
  var c = status.config || {};
  dl('config', [
    ['file', c.file || '(built in)'], ['loaded', when(c.loadedAt)], ['balancer', status.balancer],
    ['last reload error', c.lastReloadError ? c.lastReloadError.message + ' (' + age(c.lastReloadError.at) + ' ago)' : null, c.lastReloadError ? 'hot' : ''],
    ['pending restart', c.pendingRestart && c.pendingRestart.length ? c.pendingRestart.join(', ') : null, c.pendingRestart && c.pendingRestart.length ? 'hot' : '']
  ]);
}

// ---- graphs --------------------------------------------------------------------------------
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
function drawGraph(canvas, history, series, format) {
  var dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  var g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  var samples = history ? history.samples : [];
  var end = samples.length ? samples[samples.length - 1].t : now();
  // From one minute up to the whole ring, so a fresh start is not a sliver at the right edge.
  var full = history ? history.intervalMs * history.capacity : 600000;
  var span = Math.min(full, Math.max(60000, samples.length ? end - samples[0].t : 0));
  var left = 44, right = w - 6, top = 8, bottom = h - 18;
  var max = 0;
  series.forEach(function (s) { samples.forEach(function (x) { var v = s.value(x); if (v !== null && v > max) max = v; }); });
  max = niceMax(max);
  g.font = '10px system-ui, sans-serif';
  g.fillStyle = css('--muted');
  g.strokeStyle = css('--line');
  g.lineWidth = 1;
  for (var i = 0; i <= 2; i++) {
    var y = Math.round(bottom - (bottom - top) * i / 2) + 0.5;
    g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
    g.textAlign = 'right'; g.fillText(format(max * i / 2), left - 4, y + 3);
  }
  [span, span / 2, 0].forEach(function (t, k) {
    var label = t === 0 ? 'now' : t < 120000 ? '-' + Math.round(t / 1000) + 's' : '-' + Math.round(t / 60000) + 'm';
    g.textAlign = ['left', 'center', 'right'][k];
    g.fillText(label, left + (right - left) * k / 2, h - 4);
  });
  var x = function (t) { return right - (end - t) / span * (right - left); };
  var points = 0;
  series.forEach(function (s) {
    g.strokeStyle = css(s.color);
    g.lineWidth = 1.5;
    g.beginPath();
    var pen = false;
    samples.forEach(function (sample) {
      var v = s.value(sample);
      if (v === null || sample.t < end - span) { pen = false; return; }
      var px = x(sample.t), py = bottom - (bottom - top) * (max ? v / max : 0);
      if (pen) g.lineTo(px, py); else g.moveTo(px, py);
      pen = true;
      points++;
    });
    g.stroke();
  });
  canvas.dataset.points = String(points);
}
function niceMax(v) {
  if (v <= 0) return 1;
  var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}
function rateFormat(v) { return v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1); }
function renderGraphs(history) {
  var per = history ? history.intervalMs / 1000 : 1;
  drawGraph($('g-rate'), history, [
    { color: '--accent', value: function (x) { return x.requests / per; } },
    { color: '--err', value: function (x) { return x.errors / per; } }
  ], rateFormat);
  drawGraph($('g-lat'), history, [
    { color: '--accent', value: function (x) { return x.p50; } },
    { color: '--p99', value: function (x) { return x.p99; } }
  ], function (v) { return v ? ms(v).replace(' ', '') : '0'; });
}

// ---- polling -------------------------------------------------------------------------------
function fetchOk(path) {
  return fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } }).then(function (res) {
    if (path === 'status/traffic' && res.status === 404) { metricsOn = false; return null; }
    if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
    return res.json();
  });
}
var lastHistory = null;
function poll() {
  var started = Date.now();
  Promise.all([fetchOk('status'), metricsOn ? fetchOk('status/traffic') : null, fetchOk('status/history')]).then(function (got) {
    var status = got[0], history = got[2];
    skew = Date.parse(status.startedAt) + status.uptimeSeconds * 1000 - Date.now();
    var per = got[1] !== null ? fromTraffic(got[1]) : fromStatus(status);
    snaps.push({ t: Date.now(), per: per });
    if (snaps.length > WINDOW_POLLS + 1) snaps.shift();
    var seen = new Set();
    var meta = false;
    status.backends.forEach(function (b) {
      var row = rows.get(b.url);
      if (!row) { row = makeRow(b.url); rows.set(b.url, row); }
      updateRow(row, b);
      seen.add(b.url);
      if (b.pod || b.node || b.zone) meta = true;
    });
    rows.forEach(function (row, url) { if (!seen.has(url)) { row.tr.remove(); rows.delete(url); } });
    $('table').classList.toggle('nometa', !meta);
    renderSummary(status, history);
    renderRows();
    lastStatus = status; lastHistory = history; lastOk = Date.now();
    renderGraphs(history);
    setText($('p-metrics'), metricsOn ? '' : ' (metrics are off: no p50/p99 or 5xx per backend)');
    $('main').classList.remove('stale');
    var conn = $('conn');
    setText(conn, 'live \u00b7 every ' + POLL_MS / 1000 + ' s');
    conn.className = 'badge b-ok';
  }).catch(function (err) {
    var conn = $('conn');
    setText(conn, 'admin unreachable: ' + (err && err.message ? err.message : err) + ' \u00b7 retrying');
    conn.className = 'badge b-bad';
    $('main').classList.add('stale');
  }).then(function () {
    setTimeout(poll, Math.max(250, POLL_MS - (Date.now() - started)));
  });
}
window.addEventListener('resize', function () { if (lastStatus) renderGraphs(lastHistory); });
buildHead();
buildChips();
$('filter').addEventListener('input', function (e) { textFilter = e.target.value.trim(); renderRows(); });
poll();
`;

const BODY = `<header>
<span class="brand">sluice</span>
<span><b id="host"></b> <span id="ns" class="muted"></span></span>
<span id="version" class="muted"></span>
<span id="uptime" class="muted"></span>
<span id="ready" class="badge">loading</span>
<span id="conn" class="badge">connecting</span>
</header>
<main id="main">
<section class="cards">
<div class="card"><h2>Healthy backends</h2><div class="big" id="s-backends">&ndash;</div></div>
<div class="card"><h2>Requests/s (10 s)</h2><div class="big" id="s-rate">&ndash;</div></div>
<div class="card"><h2>5xx rate (10 s)</h2><div class="big" id="s-errors">&ndash;</div></div>
<div class="card"><h2>Latency p50 / p99</h2><div class="big" id="s-lat">&ndash;</div></div>
<div class="card"><h2>In-flight</h2><div class="big" id="s-inflight">&ndash;</div></div>
</section>
<section class="graphs">
<div class="card"><h2>Requests per second</h2><canvas id="g-rate" aria-label="requests per second over the last minutes"></canvas>
<div class="legend"><span><i class="l-accent"></i>all</span><span><i class="l-err"></i>5xx</span></div></div>
<div class="card"><h2>Latency</h2><canvas id="g-lat" aria-label="latency p50 and p99 over the last minutes"></canvas>
<div class="legend"><span><i class="l-accent"></i>p50</span><span><i class="l-p99"></i>p99</span></div></div>
</section>
<section class="panels">
<div class="card"><h2>Discovery</h2><dl id="discovery"></dl></div>
<div class="card"><h2>Config</h2><dl id="config"></dl></div>
</section>
<section class="card">
<div class="toolbar"><span id="chips"></span><input id="filter" type="search" placeholder="filter: url, pod, node, zone" aria-label="filter backends">
<span id="shown" class="muted"></span><span id="p-metrics" class="muted"></span></div>
<div class="tablewrap"><table id="table"><thead><tr id="head"></tr></thead><tbody id="rows"></tbody></table>
<div id="none" class="empty" hidden>No backends.</div></div>
</section>
</main>
<footer>Rates, 5xx and p50/p99 per backend: deltas of <a href="status/traffic">/status/traffic</a> over the last ~10 s. Also: <a href="status">/status</a> (JSON),
<a href="status?format=text">/status?format=text</a>, <a href="status/history">/status/history</a>, <a href="metrics">/metrics</a> (Prometheus), <a href="readyz">/readyz</a>.</footer>`;

const LEGEND_STYLE = '.l-accent{background:var(--accent)}.l-err{background:var(--err)}.l-p99{background:var(--p99)}';

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page, built once at start. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice</title><link rel="icon" href="data:,">
<style>${STYLE}${LEGEND_STYLE}</style></head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body></html>
`;

/** Only this page's own inline script and style run; it talks to its own origin only. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE + LEGEND_STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
