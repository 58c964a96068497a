// Pure helpers (no DOM, no network): the q builder, the mapping of NGSI-LD entities to map
// points, colour scales and point-in-polygon for per-district counts.

const OPS = new Set(['==', '!=', '>', '>=', '<', '<=']);

// One q term from the builder: attribute, operator, value. Numbers and booleans go as they are,
// anything else is quoted. "" when incomplete.
export function buildQ(attr, op, value) {
  if (!attr || !OPS.has(op) || value === undefined || String(value).trim() === '') return '';
  const v = String(value).trim();
  const literal = /^-?\d+(\.\d+)?$/.test(v) || v === 'true' || v === 'false' ? v : JSON.stringify(v);
  return `${attr}${op}${literal}`;
}

// The value of a keyValues or normalized attribute.
export function valueOf(attr) {
  if (attr && typeof attr === 'object' && !Array.isArray(attr)) {
    if ('value' in attr) return attr.value;
    if ('object' in attr) return attr.object;
  }
  return attr;
}

// [lon, lat] of an entity's location (a Point, else the first position of its geometry).
export function positionOf(entity) {
  const g = valueOf(entity.location);
  if (!g || !g.coordinates) return null;
  let c = g.coordinates;
  while (Array.isArray(c) && Array.isArray(c[0])) c = c[0];
  return Array.isArray(c) && c.length >= 2 ? [c[0], c[1]] : null;
}

// Attribute names of entities that hold numbers (for colouring and the q builder).
export function numericAttributes(entities) {
  const names = new Set();
  for (const e of entities) {
    for (const k in e) {
      if (!names.has(k) && typeof valueOf(e[k]) === 'number') names.add(k);
    }
  }
  return [...names].sort();
}

// The marker colour scale: from dark purple (low) through blue and green to yellow (high), after
// the stops of matplotlib's viridis, which was designed for this. Its lightness rises all the way,
// so the order reads without telling hues apart (red-green colour blindness, a grey print),
// where the former green-to-red scale had a green and a red of the same lightness.
// Values outside [min, max] take the end colours; a missing value is grey. "rgb(r, g, b)".
export const SCALE_STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
export function colourFor(value, min, max) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'rgb(136, 136, 136)';
  const t = max > min ? Math.min(1, Math.max(0, (value - min) / (max - min))) : 0.5;
  const x = t * (SCALE_STOPS.length - 1);
  const i = Math.min(SCALE_STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const [r, g, b] = SCALE_STOPS[i].map((c, k) => Math.round(c + (SCALE_STOPS[i + 1][k] - c) * f));
  return `rgb(${r}, ${g}, ${b})`;
}

export function rangeOf(values) {
  let min = Infinity, max = -Infinity;
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? [min, max] : [0, 0];
}

function inRing(lon, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// Whether [lon, lat] lies in a GeoJSON Polygon or MultiPolygon (holes excluded).
export function inPolygon([lon, lat], geometry) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates]
    : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
  return polys.some((rings) => inRing(lon, lat, rings[0]) && !rings.slice(1).some((h) => inRing(lon, lat, h)));
}

// inPolygon for many points against the same polygon (the district of each of 10,000 sensors):
// the bounding box first, then only the edges that span the point's latitude, kept in `bands`
// latitude bands (an edge sits in every band its latitude range touches; a test reads one
// band, so each edge counts at most once).
export function preparePolygon(geometry, bands = 64) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates]
    : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const rings of polys) {
    for (const [x, y] of rings[0] || []) {
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  const step = (y1 - y0) / bands || 1;
  const band = (y) => Math.min(bands - 1, Math.max(0, Math.floor((y - y0) / step)));
  const prepareRing = (ring) => {
    const buckets = Array.from({ length: bands }, () => []);
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      for (let b = band(Math.min(yi, yj)); b <= band(Math.max(yi, yj)); b++) buckets[b].push(xi, yi, xj, yj);
    }
    return buckets;
  };
  return { box: [x0, y0, x1, y1], band, polys: polys.map((rings) => rings.map(prepareRing)) };
}

function crossings(lon, lat, edges) {
  let inside = false;
  for (let k = 0; k < edges.length; k += 4) {
    const xi = edges[k], yi = edges[k + 1], xj = edges[k + 2], yj = edges[k + 3];
    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function inPrepared([lon, lat], prepared) {
  const [x0, y0, x1, y1] = prepared.box;
  if (lon < x0 || lon > x1 || lat < y0 || lat > y1) return false;
  const b = prepared.band(lat);
  for (const rings of prepared.polys) {
    if (!crossings(lon, lat, rings[0][b])) continue;
    let hole = false;
    for (let h = 1; h < rings.length && !hole; h++) hole = crossings(lon, lat, rings[h][b]);
    if (!hole) return true;
  }
  return false;
}

// Unit codes (UN/CEFACT common codes) the demo and simulator use.
const UNITS = { CEL: '°C', GQ: 'µg/m³', KMH: 'km/h', '2N': 'dB', WTT: 'W', P1: '%', E50: 'spots' };
export function unitLabel(code) {
  return code ? UNITS[code] || code : '';
}

// ---- alerts ----------------------------------------------------------------------------------
// An alert is a threshold on one attribute of one entity type, optionally within a district,
// stored on the server as an NGSI-LD subscription whose endpoint is the stream-only
// `urn:civitas:sse`. The page's own description of the alert travels in the subscription's
// `description`, so any page (after a reload, on another screen) lists the same alerts.
export const ALERT_MARK = 'civitas-dashboard-alert';
export const SSE_ENDPOINT = 'urn:civitas:sse';

// {type, attr, op, value, district} -> a Subscription body; district is {id, name, geometry}
// or null. Throws on an incomplete alert.
export function alertSubscription({ type, attr, op, value }, district = null) {
  const q = buildQ(attr, op, value);
  if (!type || !q) throw new Error('an alert needs a type, an attribute, an operator and a value');
  const spec = { type, attr, op, value: String(value).trim(), district: district?.id || '', districtName: district?.name || '' };
  const sub = {
    type: 'Subscription',
    subscriptionName: `Alert: ${alertLabel(spec)}`,
    description: JSON.stringify({ [ALERT_MARK]: spec }),
    entities: [{ type }],
    q,
    notification: { format: 'keyValues', endpoint: { uri: SSE_ENDPOINT, accept: 'application/json' } },
  };
  if (district) sub.geoQ = { georel: 'within', geometry: district.geometry.type, coordinates: district.geometry.coordinates };
  return sub;
}

// A subscription as listed by GET /subscriptions -> the alert it stores, or null when it is not
// one of the dashboard's alerts.
export function alertFromSubscription(sub) {
  if (!sub || typeof sub.description !== 'string' || valueOf(sub.notification?.endpoint?.uri) !== SSE_ENDPOINT) return null;
  let spec;
  try { spec = JSON.parse(sub.description)?.[ALERT_MARK]; } catch { return null; }
  if (!spec || !spec.type || !buildQ(spec.attr, spec.op, spec.value)) return null;
  return { id: sub.id, type: spec.type, attr: spec.attr, op: spec.op, value: spec.value,
    district: spec.district || '', districtName: spec.districtName || '', q: buildQ(spec.attr, spec.op, spec.value) };
}

export function alertLabel(a) {
  return `${a.type} ${a.attr} ${a.op} ${a.value}${a.district ? ` in ${a.districtName || a.district}` : ''}`;
}

// Whether an entity (keyValues or normalized) breaches an alert, judged in the page (the server
// judges it for the subscription; the page uses this to drop entities that stopped breaching).
export function breaches(alert, entity) {
  if (!entity || (alert.type && entity.type && entity.type !== alert.type)) return false;
  const v = valueOf(entity[alert.attr]);
  if (v === undefined || v === null) return false;
  const lit = String(alert.value).trim();
  const want = /^-?\d+(\.\d+)?$/.test(lit) ? Number(lit) : lit === 'true' ? true : lit === 'false' ? false : lit;
  switch (alert.op) {
    case '==': return v === want;
    case '!=': return v !== want;
    case '>': return v > want;
    case '>=': return v >= want;
    case '<': return v < want;
    case '<=': return v <= want;
    default: return false;
  }
}

// ---- readable colours ---------------------------------------------------------------------
// WCAG 2 contrast of CSS colours as computed by the browser ("rgb(r, g, b)" or
// "rgba(r, g, b, a)"); a see-through background is laid over the ones below it.
export function parseCssColour(text) {
  const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+([\d.]+%?))?\s*\)$/.exec(String(text).trim());
  if (!m) return null;
  const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? Number(m[4].slice(0, -1)) / 100 : Number(m[4]);
  return [Number(m[1]), Number(m[2]), Number(m[3]), a];
}

// backgrounds: from the element outwards, ending at an opaque one (white is assumed below).
export function effectiveBackground(backgrounds) {
  let out = [255, 255, 255];
  for (const b of [...backgrounds].reverse()) {
    const c = typeof b === 'string' ? parseCssColour(b) : b;
    if (!c) continue;
    out = out.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
  }
  return out;
}

function luminance([r, g, b]) {
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export function contrastRatio(fg, bg) {
  const [a, b] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}

// Frame-time figures from requestAnimationFrame deltas (ms): p50, p95, p99, max, count.
export function frameStats(deltas) {
  const s = [...deltas].filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const at = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { count: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s[s.length - 1] };
}
