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
    for (const [k, v] of Object.entries(e)) {
      if (typeof valueOf(v) === 'number') names.add(k);
    }
  }
  return [...names].sort();
}

// A colour from green (low) through yellow to red (high), readable on white and dark maps.
export function colourFor(value, min, max) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '#888888';
  const t = max > min ? Math.min(1, Math.max(0, (value - min) / (max - min))) : 0.5;
  const hue = Math.round(120 * (1 - t));
  return `hsl(${hue}, 75%, 40%)`;
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

// Unit codes (UN/CEFACT common codes) the demo and simulator use.
const UNITS = { CEL: '°C', GQ: 'µg/m³', KMH: 'km/h', '2N': 'dB', WTT: 'W', P1: '%', E50: 'spots' };
export function unitLabel(code) {
  return code ? UNITS[code] || code : '';
}
