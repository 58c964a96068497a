// First: the first load's requests leave before the libraries below are evaluated.
import { early, tenant as startTenant, type as startType } from './start.js';
// leaflet.markercluster is a UMD plug-in that extends the global L: leaflet-global.js sets it
// first (imports run in order), and the plug-in is bundled with the rest (no second fetch).
import L from './leaflet-global.js';
import 'leaflet.markercluster';
import 'leaflet/dist/leaflet.css';
import 'leaflet.markercluster/dist/MarkerCluster.css';
import 'leaflet.markercluster/dist/MarkerCluster.Default.css';
import './style.css';
import { API, api as rawApi, entitiesWithUnits, failures, queryAll as rawQueryAll } from './api.js';
import {
  alertFromSubscription, alertLabel, alertSubscription, breaches, buildQ, colourFor, inPrepared, numericAttributes,
  positionOf, preparePolygon, rangeOf, unitLabel, valueOf,
} from './logic.js';

const $ = (id) => document.getElementById(id);
const state = {
  tenant: startTenant, type: startType, district: '', colour: '', q: '',
  entities: new Map(),  // id -> keyValues entity
  markers: new Map(),   // id -> L.CircleMarker
  districts: [],        // {id, name, geometry}
  units: {},            // attribute -> unit code (from the normalized form of one entity)
  range: [0, 0],
  source: null,
  districtOf: new Map(), // id -> district id ('' when none), cached for the counts
  alerts: new Map(),     // subscription id -> {alert, breaching: Map id -> entity, source}
  panel: null,
};
// What the end-to-end tests read (counts and times; the page works without it). onUpdate, when
// a test sets it, is called with each entity an event updated, once its marker is restyled.
const probe = window.civitas = {
  state, loadedAt: 0, failures, updatedAt: new Map(), alertedAt: new Map(), updates: 0, onUpdate: null,
  markerCount: () => cluster.getLayers().length,
  // Markers drawn one by one (not inside a cluster) within the view.
  visibleMarkers: () => {
    const b = map.getBounds();
    return cluster.getLayers().filter((m) => map.hasLayer(m) && b.contains(m.getLatLng())).length;
  },
  highlighted: () => [...highlightLayer.getLayers()].map((l) => l.options.entityId).sort(),
};

// The API for the chosen tenant.
const api = (path, options = {}) => rawApi(path, { tenant: state.tenant, ...options });
const queryAll = (params, tenant = state.tenant) => rawQueryAll(params, tenant);

// ---- map -----------------------------------------------------------------------------------
// maxZoom: markercluster needs one, and without a tile layer the map has none. minZoom 7 (a
// region some 900 km across on a desktop screen, 250 km on a phone): markercluster keeps a grid
// per zoom level from minZoom up, and each marker goes through them; 9 levels instead of 16
// take a third off adding 10,000 markers.
const map = L.map('map', { preferCanvas: true, zoomControl: true, minZoom: 7, maxZoom: 19 }).setView([56.16, 10.2], 11);
probe.map = map;
const tileUrl = localStorage.getItem('civitas.tiles');  // optional, e.g. a local tile server
if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map);
const districtLayer = L.geoJSON(null, {
  style: () => ({ color: '#3b5b7a', weight: 1, fillColor: '#dde6ee', fillOpacity: 0.5 }),
}).addTo(map);
// Markers are added in chunks of up to half a second of work, back to back (10,000 take about
// one on a 2-core machine; fewer, shorter chunks draw fewer frames in between and load
// sooner); when the last chunk of a load is in, the next frame draws them. `loading` is that load's number: other
// additions (the cluster joining the map, a resync) and an outdated load do not count.
let loads = 0, loading = 0;
let firstDrawn;  // resolves when the first load's markers are drawn (or it failed)
const drawn = new Promise((resolve) => { firstDrawn = resolve; });
const loaded = (n) => requestAnimationFrame(() => requestAnimationFrame(() => {
  if (n !== loads) return;
  probe.loadedAt = performance.now();
  performance.mark('civitas:loaded');
  firstDrawn();
  scheduleList();  // the list and counts once the markers are drawn (not in between chunks)
}));
const cluster = L.markerClusterGroup({
  chunkedLoading: true, chunkInterval: 500, chunkDelay: 0, disableClusteringAtZoom: 16,
  chunkProgress: (done, total) => {
    if (done === total && loading) { loaded(loading); loading = 0; }
  },
});
map.addLayer(cluster);
// Clicks and tooltips for all markers from the cluster group (marker events reach it), the
// tooltip bound on a marker's first hover: 10,000 markers load without 10,000 of each.
cluster.on('click', (ev) => { if (ev.layer.options.entityId) openPanel(ev.layer.options.entityId); });
cluster.on('mouseover', (ev) => {
  const m = ev.layer, id = m.options.entityId;
  if (!id || m.getTooltip()) return;
  m.bindTooltip(() => tooltip(state.entities.get(id))).openTooltip();
});
// Keyboard: each marker on the map is an SVG circle that Tab reaches (its renderer makes it a
// button named after its entity); Enter or Space opens its panel, and a ring shows the focus
// (style.css). Only the markers markercluster puts on the map (those in view, not in a cluster)
// are elements at all. Clusters are Leaflet's focusable icons: Enter zooms into one (as
// markercluster does), and so does Space.
const MarkerRenderer = L.SVG.extend({
  _initPath(layer) {
    L.SVG.prototype._initPath.call(this, layer);
    const id = layer.options.entityId;
    if (!id) return;
    layer._path.dataset.id = id;
    layer._path.setAttribute('tabindex', '0');
    layer._path.setAttribute('role', 'button');
    layer._path.setAttribute('aria-label', markerLabel(state.entities.get(id) || { id }));
  },
});
const markerRenderer = new MarkerRenderer();
map.getContainer().addEventListener('keydown', (ev) => {
  const id = ev.target.dataset?.id;
  if (!id || (ev.key !== 'Enter' && ev.key !== ' ')) return;
  ev.preventDefault();
  ev.stopPropagation();
  openPanel(id, { focus: true });
});
cluster.on('clusterkeypress', (ev) => {
  if (ev.originalEvent.key !== ' ') return;  // Enter: markercluster's own
  ev.originalEvent.preventDefault();
  ev.layer.zoomToBounds();
  map.getContainer().focus();
});
// Entities breaching an alert: a red ring above the clusters, so they show at every zoom.
const highlightLayer = L.layerGroup().addTo(map);

// The base layer comes from the API: the city's AdministrativeArea polygons from the chosen
// tenant, else from the default tenant (where the demo city is). `first` is the first load's
// request (start.js). The map is fitted to them at once when they come before the first
// markers go in; the polygons, the district choices and the counts wait until those markers
// are drawn (the base layer is a few hundred ms of work on a busy machine, which the first
// picture of the sensors need not wait for).
let markersGoingIn = false;
async function loadDistricts(first = null) {
  const fetchAll = (tenant) => queryAll({ type: 'AdministrativeArea' }, tenant).catch(() => []);
  let list = first ? await first.then((r) => r.value || []) : await fetchAll(state.tenant);
  if (!list.length && state.tenant) list = await fetchAll('');
  const shapes = list.filter((e) => valueOf(e.location)?.type?.includes('Polygon'));
  const box = boundsOf(shapes.map((e) => valueOf(e.location)));
  const fittedEarly = box && !markersGoingIn;
  if (fittedEarly) map.fitBounds(box, { animate: false });
  await drawn;
  state.districts = shapes
    .map((e) => ({ id: e.id, name: valueOf(e.name) || e.id, geometry: valueOf(e.location), prepared: preparePolygon(valueOf(e.location)) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  districtLayer.clearLayers();
  for (const d of state.districts) {
    districtLayer.addData({ type: 'Feature', geometry: d.geometry, properties: { name: d.name } });
  }
  districtLayer.eachLayer((l) => l.bindTooltip(l.feature.properties.name));
  if (box && !fittedEarly) map.fitBounds(box);
  for (const id of ['district', 'alert-district']) {
    $(id).replaceChildren(new Option('All', ''), ...state.districts.map((d) => new Option(d.name, d.id)));
  }
}

// The extent of (Multi)Polygons, from their outer rings, as Leaflet bounds; null when empty.
function boundsOf(geometries) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const g of geometries) {
    for (const rings of g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : []) {
      for (const [x, y] of rings[0] || []) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x0 <= x1 ? L.latLngBounds([y0, x0], [y1, x1]) : null;
}

// `first` is the first load's request (start.js), used for the first try.
async function loadTypes(first = null) {
  let res = first ? (await first).value ?? null : null;
  for (let i = first ? 1 : 0; i < 3 && !res; i++) {
    if (i) await new Promise((r) => setTimeout(r, 500));
    res = await api('/types').catch(() => null);
  }
  const types = (Array.isArray(res) ? res : res?.typeList || []).map((t) => t.typeName || t.type || t)
    .map((t) => (typeof t === 'string' ? t : t.id)).filter((t) => t && t !== 'AdministrativeArea').sort();
  const sel = $('type');
  sel.replaceChildren(...types.map((t) => new Option(t, t)));
  if (!state.type || !types.includes(state.type)) state.type = types[0] || '';
  sel.value = state.type;
  $('alert-type').replaceChildren(...types.map((t) => new Option(t, t)));
  $('alert-type').value = state.type;
}

function markerStyle(e) {
  const v = valueOf(e[state.colour]);
  return { radius: 7, weight: 1, color: '#222', fillOpacity: 0.9, fillColor: colourFor(v, ...state.range) };
}

// Creates or updates an entity's marker; a new one is returned to the caller when `batch` is
// given (added to the cluster in one go), else added at once.
function upsertMarker(e, batch = null) {
  const pos = positionOf(e);
  if (!pos) return;
  let m = state.markers.get(e.id);
  if (!m) {
    m = L.circleMarker([pos[1], pos[0]], { ...markerStyle(e), entityId: e.id, renderer: markerRenderer });
    state.markers.set(e.id, m);
    if (batch) batch.push(m); else cluster.addLayer(m);
  } else {
    const ll = m.getLatLng();
    if (ll.lat !== pos[1] || ll.lng !== pos[0]) { m.setLatLng([pos[1], pos[0]]); state.districtOf.delete(e.id); }
    m.setStyle(markerStyle(e));
    m._path?.setAttribute('aria-label', markerLabel(e));
  }
}

// "0042 · LAeq 52 dB": the end of the id and the colouring value with its unit.
function markerLabel(e) {
  const v = valueOf(e[state.colour]);
  return `${e.id.split(':').slice(-1)[0]}${state.colour ? ` · ${state.colour} ${v ?? '–'} ${unitLabel(state.units[state.colour])}` : ''}`.trim();
}

function tooltip(e) {
  if (!e) return '';
  const label = document.createElement('span');
  label.textContent = markerLabel(e);
  return label;
}

function renderLegend() {
  const [min, max] = state.range;
  const el = $('legend');
  el.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = state.colour ? `${state.colour} ${unitLabel(state.units[state.colour]) ? `(${unitLabel(state.units[state.colour])})` : ''}` : 'No numeric attribute';
  el.append(h);
  if (!state.colour) return;
  for (let i = 0; i <= 4; i++) {
    const v = min + ((max - min) * i) / 4;
    const row = document.createElement('div');
    row.className = 'legend-row';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = colourFor(v, min, max);
    row.append(sw, document.createTextNode(` ${Number(v.toFixed(2))}`));
    el.append(row);
  }
}

function recolour() {
  state.range = rangeOf([...state.entities.values()].map((e) => valueOf(e[state.colour])));
  for (const e of state.entities.values()) state.markers.get(e.id)?.setStyle(markerStyle(e));
  renderLegend();
}

// ---- counts and list -----------------------------------------------------------------------
function renderCounts() {
  const tbody = $('counts').tBodies[0];
  const counts = new Map(state.districts.map((d) => [d.id, 0]));
  for (const e of state.entities.values()) {
    let d = state.districtOf.get(e.id);
    if (d === undefined) {
      const pos = positionOf(e);
      d = (pos && state.districts.find((x) => inPrepared(pos, x.prepared))?.id) || '';
      state.districtOf.set(e.id, d);
    }
    if (d) counts.set(d, counts.get(d) + 1);
  }
  tbody.replaceChildren(...state.districts.filter((d) => counts.get(d.id) > 0 || !state.district).map((d) => {
    const tr = document.createElement('tr');
    const a = document.createElement('td'), b = document.createElement('td');
    a.textContent = d.name;
    b.textContent = counts.get(d.id);
    tr.append(a, b);
    return tr;
  }));
  $('total').textContent = `(${state.entities.size} shown)`;
}

function renderList() {
  const ul = $('list');
  const bounds = map.getBounds();
  const items = [];
  for (const e of state.entities.values()) {
    const pos = positionOf(e);
    if (!pos || !bounds.contains([pos[1], pos[0]])) continue;
    if (items.length >= 200) break;
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.id = e.id;
    const v = valueOf(e[state.colour]);
    b.textContent = `${e.id.split(':').slice(-1)[0]}${state.colour ? ` — ${v ?? '–'} ${unitLabel(state.units[state.colour])}` : ''}`;
    b.addEventListener('click', () => {
      map.setView([pos[1], pos[0]], Math.max(map.getZoom(), 16));
      openPanel(e.id, { focus: true });
    });
    li.append(b);
    items.push(li);
  }
  ul.replaceChildren(...items);
}
let listTimer = 0;
function scheduleList() {  // at most 4 times a second, also under a constant stream of updates
  if (listTimer) return;
  listTimer = setTimeout(() => { listTimer = 0; renderList(); renderCounts(); }, 250);
}
map.on('moveend', scheduleList);

// ---- loading -------------------------------------------------------------------------------
function queryParams() {
  const p = { type: state.type };
  if (state.q) p.q = state.q;
  const d = state.districts.find((d) => d.id === state.district);
  if (d) Object.assign(p, { georel: 'within', geometry: d.geometry.type, coordinates: JSON.stringify(d.geometry.coordinates) });
  return p;
}

// `first` is the first load's request (start.js), used when it asked for what is chosen now.
async function loadEntities(first = null) {
  cluster.clearLayers();
  state.markers.clear();
  state.entities.clear();
  state.districtOf.clear();
  probe.loadedAt = 0;
  const load = ++loads;
  loading = 0;
  if (!state.type) { renderLegend(); scheduleList(); loaded(load); return; }
  const params = queryParams();
  const asked = first && state.type === startType && state.tenant === startTenant && !state.q && !state.district
    ? await first.then(({ value, error }) => { if (error) throw error; return value; })
    : await entitiesWithUnits(params, state.tenant);
  if (load !== loads) return;  // a newer load started meanwhile
  performance.mark('civitas:entities');
  const { list } = asked;
  for (const e of list) state.entities.set(e.id, e);
  state.units = asked.units;
  const numeric = numericAttributes(list);
  const sel = $('colour');
  sel.replaceChildren(...numeric.map((a) => new Option(a, a)));
  if (!numeric.includes(state.colour)) state.colour = numeric[0] || '';
  sel.value = state.colour;
  const qa = $('q-attr');
  const keep = qa.value;
  qa.replaceChildren(new Option('—', ''), ...numeric.map((a) => new Option(a, a)));
  qa.value = numeric.includes(keep) ? keep : '';
  $('alert-attrs').replaceChildren(...numeric.map((a) => new Option(a, a)));
  $('alert-type').value = state.type;
  state.range = rangeOf(list.map((e) => valueOf(e[state.colour])));
  const added = [];
  for (const e of list) upsertMarker(e, added);
  performance.mark('civitas:markers');
  markersGoingIn = true;
  if (added.length) { loading = load; cluster.addLayers(added); } else loaded(load);  // sets probe.loadedAt once drawn
  renderLegend();
  renderHighlights();
  connectEvents(params);
}

// After a reconnection: what changed while the stream was down (the ad-hoc stream does not
// replay), without clearing the map.
async function resync(params) {
  const list = await queryAll(params).catch(() => null);
  if (!list) return;
  const seen = new Set();
  const added = [];
  for (const e of list) {
    seen.add(e.id);
    state.entities.set(e.id, e);
    upsertMarker(e, added);
  }
  cluster.addLayers(added);
  for (const id of [...state.entities.keys()]) {
    if (seen.has(id)) continue;
    state.entities.delete(id);
    const m = state.markers.get(id);
    if (m) cluster.removeLayer(m);
    state.markers.delete(id);
  }
  scheduleList();
}

// ---- live: server-sent events ----------------------------------------------------------------
function setConn(text) {
  const el = $('conn');
  el.textContent = text;
  el.dataset.state = text;
}

// An EventSource that survives server restarts: the browser retries by itself after a dropped
// connection, but gives up (CLOSED) when a retry is refused or answered with an error; then this
// opens a new one, with a growing delay (0.5 s up to 5 s). onOpen(reconnected) runs on each open.
function liveStream(url, { onOpen, onEvent, onState }) {
  const s = { src: null, closed: false, timer: 0, delay: 500, dropped: false };
  const open = () => {
    if (s.closed) return;
    const src = new EventSource(url);
    s.src = src;
    onState?.('connecting');
    src.onopen = () => {
      s.delay = 500;
      onState?.('live');
      onOpen?.(s.dropped);
      s.dropped = false;
    };
    src.onerror = () => {
      s.dropped = true;
      if (src.readyState !== EventSource.CLOSED) { onState?.('connecting'); return; }
      onState?.('offline');
      clearTimeout(s.timer);
      s.timer = setTimeout(open, s.delay);
      s.delay = Math.min(5000, s.delay * 2);
    };
    src.addEventListener('notification', (ev) => {
      let n;
      try { n = JSON.parse(ev.data); } catch { return; }
      onEvent(n);
    });
  };
  open();
  return { close() { s.closed = true; clearTimeout(s.timer); s.src?.close(); } };
}

function applyUpdate(e) {
  const merged = { ...(state.entities.get(e.id) || {}), ...e };
  state.entities.set(e.id, merged);
  upsertMarker(merged);
  probe.updates++;
  probe.updatedAt.set(e.id, Date.now());
  probe.onUpdate?.(merged);
  // An entity that no longer breaches an alert leaves its list (the alert's own stream only
  // tells of entities that breach).
  for (const a of state.alerts.values()) {
    if (a.breaching.has(e.id) && !breaches(a.alert, merged)) { a.breaching.delete(e.id); scheduleAlerts(); }
  }
  if (state.panel === e.id) schedulePanel();
}

function connectEvents(params) {
  state.source?.close();
  // EventSource cannot send NGSILD-Tenant: event streams take the tenant as a parameter.
  const p = new URLSearchParams({ ...params, options: 'keyValues' });
  if (state.tenant) p.set('tenant', state.tenant);
  state.source = liveStream(`${API}/events?${p}`, {
    onState: setConn,
    onOpen: (reconnected) => { if (reconnected) { resync(params); refreshAlerts(); } },
    onEvent: (n) => { for (const e of n.data || []) applyUpdate(e); scheduleList(); },
  });
}

let panelTimer = 0;
function schedulePanel() {  // the open panel follows its entity, at most twice a second
  if (panelTimer) return;
  panelTimer = setTimeout(() => { panelTimer = 0; if (state.panel) openPanel(state.panel, { keepChart: true }); }, 500);
}

// ---- entity panel ----------------------------------------------------------------------------
const RANGES = { hour: 3600e3, day: 86400e3, week: 7 * 86400e3 };
let returnFocus = null;
async function openPanel(id, { keepChart = false, focus = false } = {}) {
  state.panel = id;
  const panel = $('panel');
  if (!keepChart) panel.replaceChildren();  // not the last entity's while this one loads
  panel.hidden = false;
  const e = await api(`/entities/${encodeURIComponent(id)}`).catch((err) => ({ error: String(err) }));
  if (state.panel !== id) return;  // another entity was opened meanwhile
  const head = document.createElement('h2');
  head.textContent = id;
  head.tabIndex = -1;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = 'Close';
  close.addEventListener('click', () => {
    panel.hidden = true;
    state.panel = null;
    if (returnFocus?.isConnected) returnFocus.focus();  // back to the marker or row it came from
  });
  const dl = document.createElement('dl');
  const numeric = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === 'id' || k === '@context') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    if (v && v.type === 'Relationship') {
      const a = document.createElement('a');
      a.href = '#';
      a.textContent = v.object;
      a.addEventListener('click', (ev) => { ev.preventDefault(); openPanel(v.object, { focus: true }); });
      dd.append(a);
    } else if (v && v.type === 'GeoProperty') {
      dd.textContent = v.value?.type || '';
    } else if (v && typeof v === 'object' && 'value' in v) {
      dd.textContent = `${JSON.stringify(v.value)} ${unitLabel(v.unitCode)}${v.observedAt ? ` · ${new Date(v.observedAt).toLocaleString()}` : ''}`;
      if (typeof v.value === 'number') numeric.push(k);
    } else {
      dd.textContent = typeof v === 'string' ? v : JSON.stringify(v);
    }
    dl.append(dt, dd);
  }
  if (keepChart && panel.querySelector('.chart')) {
    panel.querySelector('dl')?.replaceWith(dl);
    return;
  }
  if (keepChart) return;  // an update of an entity whose panel is still loading
  const controls = document.createElement('div');
  controls.className = 'chart-controls';
  const attrSel = document.createElement('select');
  attrSel.setAttribute('aria-label', 'History attribute');
  attrSel.append(...numeric.map((a) => new Option(a, a)));
  if (numeric.includes(state.colour)) attrSel.value = state.colour;
  const rangeSel = document.createElement('select');
  rangeSel.setAttribute('aria-label', 'Time range');
  rangeSel.append(new Option('Last hour', 'hour'), new Option('Last day', 'day'), new Option('Last week', 'week'), new Option('Custom', 'custom'));
  rangeSel.value = 'day';
  const from = document.createElement('input');
  from.type = 'datetime-local';
  from.setAttribute('aria-label', 'From');
  from.hidden = true;
  const periodSel = document.createElement('select');
  periodSel.setAttribute('aria-label', 'Aggregation period');
  periodSel.append(new Option('1 min', 'PT1M'), new Option('5 min', 'PT5M'), new Option('1 hour', 'PT1H'), new Option('1 day', 'P1D'));
  periodSel.value = 'PT5M';
  const chart = document.createElement('div');
  chart.className = 'chart';
  controls.append(attrSel, rangeSel, from, periodSel);
  panel.replaceChildren(head, close, dl, controls, chart);
  if (focus) { returnFocus = document.activeElement; head.focus(); }
  const draw = () => {
    from.hidden = rangeSel.value !== 'custom';
    const start = rangeSel.value === 'custom' && from.value ? new Date(from.value) : new Date(Date.now() - (RANGES[rangeSel.value] || RANGES.day));
    const attr = attrSel.value, tenant = state.tenant, unit = unitLabel(state.units[attr]);
    import('./chart.js').then(({ drawHistory }) => drawHistory(chart, { id, attr, start, period: periodSel.value, unit, tenant }));
  };
  for (const el of [attrSel, rangeSel, from, periodSel]) el.addEventListener('change', draw);
  if (numeric.length) draw();
}

// ---- alerts: thresholds stored as stream-only subscriptions ------------------------------------
// Each alert is a subscription (endpoint urn:civitas:sse, q = the threshold, geoQ = the
// district) on the server, so alerts outlive the page and every screen shows the same ones.
// Its entities breaching now come from a query with the same filter; new breaches arrive on
// the subscription's event stream. A browser keeps at most 6 connections to one server, so
// only the first MAX_ALERT_STREAMS alerts stream; the others (and all, as a safety net) are
// re-queried every ALERT_POLL_MS.
const MAX_ALERT_STREAMS = 3;
const ALERT_POLL_MS = 10000;

function alertQuery(alert) {
  const p = { type: alert.type, q: alert.q };
  const d = state.districts.find((x) => x.id === alert.district);
  if (d) Object.assign(p, { georel: 'within', geometry: d.geometry.type, coordinates: JSON.stringify(d.geometry.coordinates) });
  return p;
}

async function queryBreaching(entry) {
  const list = await queryAll(alertQuery(entry.alert)).catch(() => null);
  if (!list || !state.alerts.has(entry.alert.id)) return;
  entry.breaching = new Map(list.map((e) => [e.id, e]));
  scheduleAlerts();
}

function streamAlert(entry) {
  const p = state.tenant ? `?tenant=${encodeURIComponent(state.tenant)}` : '';
  entry.source = liveStream(`${API}/subscriptions/${encodeURIComponent(entry.alert.id)}/events${p}`, {
    onState: (s) => { entry.conn = s; scheduleAlerts(); },
    onOpen: (reconnected) => { if (reconnected) queryBreaching(entry); },
    onEvent: (n) => {
      for (const e of n.data || []) {
        entry.breaching.set(e.id, { ...(entry.breaching.get(e.id) || state.entities.get(e.id) || {}), ...e });
        probe.alertedAt.set(e.id, Date.now());
      }
      scheduleAlerts();
    },
  });
}

function startAlert(alert) {
  const entry = { alert, breaching: new Map(), source: null, conn: 'polled' };
  state.alerts.set(alert.id, entry);
  if ([...state.alerts.values()].filter((a) => a.source).length < MAX_ALERT_STREAMS) streamAlert(entry);
  queryBreaching(entry);
}

function stopAlert(id) {
  state.alerts.get(id)?.source?.close();
  state.alerts.delete(id);
}

// The dashboard's alerts among the tenant's subscriptions (created or deleted elsewhere too).
async function loadAlerts() {
  const subs = [];
  for (let offset = 0; offset < 100000; offset += 1000) {
    const page = await api(`/subscriptions?limit=1000&offset=${offset}`).catch(() => null);
    if (!page) return;
    subs.push(...page);
    if (page.length < 1000) break;
  }
  const found = new Map();
  for (const s of subs) { const a = alertFromSubscription(s); if (a) found.set(a.id, a); }
  for (const id of [...state.alerts.keys()]) if (!found.has(id)) stopAlert(id);
  for (const [id, a] of found) if (!state.alerts.has(id)) startAlert(a);
  scheduleAlerts();
}

async function refreshAlerts() {
  await loadAlerts();
  for (const entry of state.alerts.values()) queryBreaching(entry);
}
setInterval(refreshAlerts, ALERT_POLL_MS);

function resetAlerts() {
  for (const id of [...state.alerts.keys()]) stopAlert(id);
  scheduleAlerts();
}

async function addAlert(ev) {
  ev.preventDefault();
  $('alert-error').textContent = '';
  const district = state.districts.find((d) => d.id === $('alert-district').value) || null;
  let body;
  try {
    body = alertSubscription({ type: $('alert-type').value, attr: $('alert-attr').value.trim(), op: $('alert-op').value, value: $('alert-value').value }, district);
  } catch (err) { $('alert-error').textContent = err.message; return; }
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (state.tenant) headers['NGSILD-Tenant'] = state.tenant;
  const res = await fetch(`${API}/subscriptions`, { method: 'POST', headers, body: JSON.stringify(body) }).catch(() => null);
  if (!res?.ok) {
    const problem = await res?.json().catch(() => null);
    $('alert-error').textContent = `The alert was not stored: ${problem?.detail || problem?.title || res?.status || 'no connection'}`;
    return;
  }
  const id = decodeURIComponent((res.headers.get('Location') || '').split('/').pop());
  const alert = alertFromSubscription({ id, ...body });
  if (alert && !state.alerts.has(id)) startAlert(alert);
  $('alert-value').value = '';
  scheduleAlerts();
}

async function deleteAlert(id) {
  const headers = {};
  if (state.tenant) headers['NGSILD-Tenant'] = state.tenant;
  const res = await fetch(`${API}/subscriptions/${encodeURIComponent(id)}`, { method: 'DELETE', headers }).catch(() => null);
  if (!res || (!res.ok && res.status !== 404)) { $('alert-error').textContent = `The alert was not deleted (${res?.status || 'no connection'})`; return; }
  stopAlert(id);
  scheduleAlerts();
  $('alerts-h').focus?.();
}

function renderAlerts() {
  const items = [];
  for (const { alert, breaching, conn } of state.alerts.values()) {
    const li = document.createElement('li');
    li.dataset.id = alert.id;
    li.className = breaching.size ? 'alert breaching' : 'alert';
    const head = document.createElement('div');
    head.className = 'alert-head';
    const label = document.createElement('strong');
    label.textContent = alertLabel(alert);
    const count = document.createElement('span');
    count.className = 'alert-count';
    count.textContent = `${breaching.size} breaching${conn === 'live' ? '' : ` · ${conn}`}`;
    const del = document.createElement('button');
    del.type = 'button';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete alert ${alertLabel(alert)}`);
    del.addEventListener('click', () => deleteAlert(alert.id));
    head.append(label, count, del);
    const ul = document.createElement('ul');
    ul.className = 'breaching-list';
    for (const e of [...breaching.values()].slice(0, 50)) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.id = e.id;
      b.textContent = `${e.id.split(':').slice(-1)[0]} — ${alert.attr} ${valueOf(e[alert.attr]) ?? '–'} ${unitLabel(state.units[alert.attr])}`;
      b.addEventListener('click', () => {
        const pos = positionOf(e);
        if (pos) map.setView([pos[1], pos[0]], Math.max(map.getZoom(), 16));
        openPanel(e.id, { focus: true });
      });
      const item = document.createElement('li');
      item.append(b);
      ul.append(item);
    }
    li.append(head, ul);
    items.push(li);
  }
  $('alerts').replaceChildren(...items);
  $('alerts-total').textContent = state.alerts.size ? `(${state.alerts.size})` : '';
}

function renderHighlights() {
  highlightLayer.clearLayers();
  const done = new Set();
  for (const { breaching } of state.alerts.values()) {
    for (const e of breaching.values()) {
      if (done.has(e.id)) continue;
      done.add(e.id);
      const pos = positionOf(state.entities.get(e.id) || e);
      if (!pos) continue;
      L.circleMarker([pos[1], pos[0]], { radius: 12, color: '#b3261e', weight: 3, fill: false, interactive: false, entityId: e.id })
        .addTo(highlightLayer);
    }
  }
}

let alertTimer = 0;
function scheduleAlerts() {  // list and map rings, at most 4 times a second
  if (alertTimer) return;
  alertTimer = setTimeout(() => { alertTimer = 0; renderAlerts(); renderHighlights(); }, 250);
}
$('alert-form').addEventListener('submit', addAlert);

// ---- filters -------------------------------------------------------------------------------
$('filters').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const tenantChanged = state.tenant !== $('tenant').value.trim();
  state.tenant = $('tenant').value.trim();
  localStorage.setItem('civitas.tenant', state.tenant);
  state.type = $('type').value;
  state.district = $('district').value;
  state.q = buildQ($('q-attr').value, $('q-op').value, $('q-value').value);
  if (tenantChanged) { resetAlerts(); await loadTypes(); state.type = $('type').value; await loadDistricts(); }
  await loadEntities();
  if (tenantChanged) await loadAlerts();
});
$('colour').addEventListener('change', () => { state.colour = $('colour').value; recolour(); scheduleList(); });

$('tenant').value = state.tenant;
performance.mark('civitas:script');
// The districts (the base layer and the counts) load alongside the types and entities; the
// counts are taken again once the districts are in.
await Promise.all([
  loadDistricts(early.districts).then(() => { performance.mark('civitas:districts'); state.districtOf.clear(); scheduleList(); }),
  loadTypes(early.types).then(() => { performance.mark('civitas:types'); return loadEntities(early.entities); })
    .catch((err) => { firstDrawn(); throw err; }),
]);
await loadAlerts();
