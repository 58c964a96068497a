import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import 'leaflet.markercluster/dist/MarkerCluster.css';
import 'leaflet.markercluster/dist/MarkerCluster.Default.css';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { buildQ, colourFor, inPolygon, numericAttributes, positionOf, rangeOf, unitLabel, valueOf } from './logic.js';

// leaflet.markercluster is a UMD plug-in that extends the global L.
window.L = L;
await import('leaflet.markercluster');

const API = '/ngsi-ld/v1';
const $ = (id) => document.getElementById(id);
const state = {
  tenant: localStorage.getItem('civitas.tenant') || '',
  type: '', district: '', colour: '', q: '',
  entities: new Map(),  // id -> keyValues entity
  markers: new Map(),   // id -> L.CircleMarker
  districts: [],        // {id, name, geometry}
  units: {},            // attribute -> unit code (from the normalized form of one entity)
  range: [0, 0],
  source: null,
};

async function api(path, { tenant = state.tenant, accept = 'application/json', ...init } = {}) {
  const headers = { Accept: accept, ...(init.headers || {}) };
  if (tenant) headers['NGSILD-Tenant'] = tenant;
  const res = await fetch(API + path, { ...init, headers });
  if (!res.ok) throw new Error(`${res.status} ${path}`);
  return res.status === 204 ? null : res.json();
}

// All entities of a query, paging by 1000.
async function queryAll(params, tenant = state.tenant) {
  const out = [];
  for (let offset = 0; ; offset += 1000) {
    const p = new URLSearchParams({ ...params, options: 'keyValues', limit: '1000', offset: String(offset) });
    const page = await api(`/entities?${p}`, { tenant });
    out.push(...page);
    if (page.length < 1000 || out.length >= 100000) return out;
  }
}

// ---- map -----------------------------------------------------------------------------------
const map = L.map('map', { preferCanvas: true, zoomControl: true }).setView([56.16, 10.2], 11);
const tileUrl = localStorage.getItem('civitas.tiles');  // optional, e.g. a local tile server
if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map);
const districtLayer = L.geoJSON(null, {
  style: () => ({ color: '#3b5b7a', weight: 1, fillColor: '#dde6ee', fillOpacity: 0.5 }),
}).addTo(map);
const cluster = L.markerClusterGroup({ chunkedLoading: true, disableClusteringAtZoom: 16 });
map.addLayer(cluster);

async function loadDistricts() {
  // The base layer comes from the API: the city's AdministrativeArea polygons from the chosen
  // tenant, else from the default tenant (where the demo city is).
  let list = await queryAll({ type: 'AdministrativeArea' }).catch(() => []);
  if (!list.length && state.tenant) list = await queryAll({ type: 'AdministrativeArea' }, '').catch(() => []);
  state.districts = list.filter((e) => valueOf(e.location)?.type?.includes('Polygon'))
    .map((e) => ({ id: e.id, name: valueOf(e.name) || e.id, geometry: valueOf(e.location) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  districtLayer.clearLayers();
  for (const d of state.districts) {
    districtLayer.addData({ type: 'Feature', geometry: d.geometry, properties: { name: d.name } });
  }
  districtLayer.eachLayer((l) => l.bindTooltip(l.feature.properties.name));
  if (state.districts.length) map.fitBounds(districtLayer.getBounds());
  const sel = $('district');
  sel.replaceChildren(new Option('All', ''), ...state.districts.map((d) => new Option(d.name, d.id)));
}

async function loadTypes() {
  const res = await api('/types').catch(() => null);
  const types = (Array.isArray(res) ? res : res?.typeList || []).map((t) => t.typeName || t.type || t)
    .map((t) => (typeof t === 'string' ? t : t.id)).filter((t) => t && t !== 'AdministrativeArea').sort();
  const sel = $('type');
  sel.replaceChildren(...types.map((t) => new Option(t, t)));
  if (!state.type || !types.includes(state.type)) state.type = types[0] || '';
  sel.value = state.type;
}

function markerStyle(e) {
  const v = valueOf(e[state.colour]);
  return { radius: 7, weight: 1, color: '#222', fillOpacity: 0.9, fillColor: colourFor(v, ...state.range) };
}

function upsertMarker(e) {
  const pos = positionOf(e);
  if (!pos) return;
  let m = state.markers.get(e.id);
  if (!m) {
    m = L.circleMarker([pos[1], pos[0]], markerStyle(e));
    m.on('click', () => openPanel(e.id));
    m.bindTooltip(() => tooltip(state.entities.get(e.id)));
    state.markers.set(e.id, m);
    cluster.addLayer(m);
  } else {
    m.setLatLng([pos[1], pos[0]]);
    m.setStyle(markerStyle(e));
  }
}

function tooltip(e) {
  if (!e) return '';
  const v = valueOf(e[state.colour]);
  const label = document.createElement('span');
  label.textContent = `${e.id.split(':').slice(-1)[0]}${state.colour ? ` · ${state.colour} ${v ?? '–'} ${unitLabel(state.units[state.colour])}` : ''}`;
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
    const pos = positionOf(e);
    if (!pos) continue;
    const d = state.districts.find((d) => inPolygon(pos, d.geometry));
    if (d) counts.set(d.id, counts.get(d.id) + 1);
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
      openPanel(e.id);
    });
    li.append(b);
    items.push(li);
  }
  ul.replaceChildren(...items);
}
let listTimer = 0;
function scheduleList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => { renderList(); renderCounts(); }, 250);
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

async function loadEntities() {
  cluster.clearLayers();
  state.markers.clear();
  state.entities.clear();
  if (!state.type) { renderLegend(); scheduleList(); return; }
  const params = queryParams();
  const list = await queryAll(params);
  for (const e of list) state.entities.set(e.id, e);
  // Units: from the normalized form of one entity.
  state.units = {};
  if (list.length) {
    const full = await api(`/entities/${encodeURIComponent(list[0].id)}`).catch(() => ({}));
    for (const [k, v] of Object.entries(full)) if (v?.unitCode) state.units[k] = v.unitCode;
  }
  const numeric = numericAttributes(list);
  const sel = $('colour');
  sel.replaceChildren(...numeric.map((a) => new Option(a, a)));
  if (!numeric.includes(state.colour)) state.colour = numeric[0] || '';
  sel.value = state.colour;
  const qa = $('q-attr');
  const keep = qa.value;
  qa.replaceChildren(new Option('—', ''), ...numeric.map((a) => new Option(a, a)));
  qa.value = numeric.includes(keep) ? keep : '';
  state.range = rangeOf(list.map((e) => valueOf(e[state.colour])));
  for (const e of list) upsertMarker(e);
  renderLegend();
  scheduleList();
  connectEvents(params);
}

// ---- live: server-sent events ----------------------------------------------------------------
function setConn(text) {
  const el = $('conn');
  el.textContent = text;
  el.dataset.state = text;
}

function connectEvents(params) {
  state.source?.close();
  // EventSource cannot send NGSILD-Tenant: event streams take the tenant as a parameter.
  const p = new URLSearchParams({ ...params, options: 'keyValues' });
  if (state.tenant) p.set('tenant', state.tenant);
  const src = new EventSource(`${API}/events?${p}`);
  state.source = src;
  setConn('connecting');
  src.onopen = () => setConn('live');
  src.onerror = () => setConn(src.readyState === EventSource.CLOSED ? 'offline' : 'connecting');
  src.addEventListener('notification', (ev) => {
    let n;
    try { n = JSON.parse(ev.data); } catch { return; }
    for (const e of n.data || []) {
      const merged = { ...(state.entities.get(e.id) || {}), ...e };
      state.entities.set(e.id, merged);
      upsertMarker(merged);
      const m = state.markers.get(e.id);
      m?.getElement?.()?.classList.add('flash');
      if (state.panel === e.id) openPanel(e.id, { keepChart: true });
    }
    scheduleList();
  });
}

// ---- entity panel ----------------------------------------------------------------------------
const RANGES = { hour: 3600e3, day: 86400e3, week: 7 * 86400e3 };
async function openPanel(id, { keepChart = false } = {}) {
  state.panel = id;
  const panel = $('panel');
  panel.hidden = false;
  const e = await api(`/entities/${encodeURIComponent(id)}`).catch((err) => ({ error: String(err) }));
  const head = document.createElement('h2');
  head.textContent = id;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = 'Close';
  close.addEventListener('click', () => { panel.hidden = true; state.panel = null; });
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
      a.addEventListener('click', (ev) => { ev.preventDefault(); openPanel(v.object); });
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
  const draw = () => {
    from.hidden = rangeSel.value !== 'custom';
    const start = rangeSel.value === 'custom' && from.value ? new Date(from.value) : new Date(Date.now() - (RANGES[rangeSel.value] || RANGES.day));
    drawHistory(chart, id, attrSel.value, start, periodSel.value);
  };
  for (const el of [attrSel, rangeSel, from, periodSel]) el.addEventListener('change', draw);
  if (numeric.length) draw();
}

async function drawHistory(el, id, attr, start, period) {
  el.replaceChildren();
  if (!attr) return;
  const p = new URLSearchParams({ attrs: attr, timerel: 'after', timeAt: start.toISOString(), options: 'aggregatedValues', aggrMethods: 'avg,min,max', aggrPeriodDuration: period });
  const res = await api(`/temporal/entities/${encodeURIComponent(id)}?${p}`).catch(() => null);
  let a = res?.[attr];
  if (Array.isArray(a)) a = a[0];
  const rows = a?.avg || [];
  if (!rows.length) { el.textContent = 'No history in this range.'; return; }
  const t = rows.map((r) => Date.parse(r[1]) / 1000);
  const pick = (m) => (a[m] || []).map((r) => r[0]);
  const width = Math.max(260, el.clientWidth || 320);
  const plot = new uPlot({
    width, height: 200, title: `${attr} (${unitLabel(state.units[attr])})`,
    series: [{}, { label: 'avg', stroke: '#1f5fa8', width: 2 }, { label: 'min', stroke: '#2e8540' }, { label: 'max', stroke: '#b3261e' }],
  }, [t, pick('avg'), pick('min'), pick('max')], el);
  el.dataset.points = String(t.length);
  return plot;
}

// ---- filters -------------------------------------------------------------------------------
$('filters').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const tenantChanged = state.tenant !== $('tenant').value.trim();
  state.tenant = $('tenant').value.trim();
  localStorage.setItem('civitas.tenant', state.tenant);
  state.type = $('type').value;
  state.district = $('district').value;
  state.q = buildQ($('q-attr').value, $('q-op').value, $('q-value').value);
  if (tenantChanged) { await loadTypes(); state.type = $('type').value; await loadDistricts(); }
  await loadEntities();
});
$('colour').addEventListener('change', () => { state.colour = $('colour').value; recolour(); scheduleList(); });

$('tenant').value = state.tenant;
await loadDistricts();
await loadTypes();
await loadEntities();
