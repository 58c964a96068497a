// History charts in the entity panel (uPlot), loaded on the first panel opened rather than with
// the page: the first picture of the map does not wait for them.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from './api.js';

// Only the newest draw of a chart shows: choosing a range and then a period quickly starts two,
// whose answers may arrive in either order. `unit` is the attribute's unit label ('' if none).
const chartDraws = new WeakMap();
export async function drawHistory(el, { id, attr, start, period, unit, tenant }) {
  const draw = (chartDraws.get(el) || 0) + 1;
  chartDraws.set(el, draw);
  el.replaceChildren();
  delete el.dataset.points;
  if (!attr) return;
  const p = new URLSearchParams({ attrs: attr, timerel: 'after', timeAt: start.toISOString(), options: 'aggregatedValues', aggrMethods: 'avg,min,max', aggrPeriodDuration: period });
  const res = await api(`/temporal/entities/${encodeURIComponent(id)}?${p}`, { tenant }).catch(() => null);
  if (chartDraws.get(el) !== draw) return;
  let a = res?.[attr];
  if (Array.isArray(a)) a = a[0];
  const rows = a?.avg || [];
  if (!rows.length) { el.textContent = 'No history in this range.'; return; }
  const t = rows.map((r) => Date.parse(r[1]) / 1000);
  const pick = (m) => (a[m] || []).map((r) => r[0]);
  const width = Math.max(260, el.clientWidth || 320);
  new uPlot({
    width, height: 200, title: unit ? `${attr} (${unit})` : attr,
    series: [{}, { label: 'avg', stroke: '#1f5fa8', width: 2 }, { label: 'min', stroke: '#2e8540' }, { label: 'max', stroke: '#b3261e' }],
  }, [t, pick('avg'), pick('min'), pick('max')], el);
  el.dataset.points = String(t.length);
}
