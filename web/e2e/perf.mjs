// The dashboard with 10,000 sensors (issue 9, performance): the first load (under 2 s, the best
// of up to three cold loads), then 1,000 updates a second written through the API (batch
// updates from this process) while the page shows them, first over the whole city (clustered
// markers, zooming in and out), then at street level (markers drawn one by one). Measured in
// the page: requestAnimationFrame deltas (frame times) and, per update, the time from the
// write being sent to the first frame after its marker changed; every update written must be
// shown. Sizes and bounds can be changed through the environment (E2E_PERF_*), e.g. to try a
// slower machine; the defaults are what `./dev test` checks.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { frameStats } from '../src/logic.js';
import { BUSY_CORES, artifactsDir, assert, assertEq, cpuGauge, pointIn, sleep } from './harness.mjs';

const env = (name, dflt) => Number(process.env[name] || dflt);
const ENTITIES = env('E2E_PERF_ENTITIES', 10000);
const RATE = env('E2E_PERF_RATE', 1000);          // updates a second
const SECONDS = env('E2E_PERF_SECONDS', 8);        // of streaming over the whole city
const STREET_SECONDS = env('E2E_PERF_STREET_SECONDS', 4);
// Bounds: generous against a busy 2-core CI machine, tight enough to catch a page that falls
// behind (a backlog grows without bound at 1,000 updates/s) or stalls for a second.
const LOAD_MS = env('E2E_PERF_LOAD_MS', 2000);
const LOAD_CPU_MS = env('E2E_PERF_LOAD_CPU_MS', 1500);  // the page's main thread, busy machine or not
const FRAME_P95_MS = env('E2E_PERF_FRAME_P95_MS', 100);
const FRAME_MAX_MS = env('E2E_PERF_FRAME_MAX_MS', 750);
const LAG_P95_MS = env('E2E_PERF_LAG_P95_MS', 1000);
const LAG_MAX_MS = env('E2E_PERF_LAG_MAX_MS', 2000);

const TYPE = 'NoiseLevelObserved';
const sensorId = (i) => `urn:ngsi-ld:${TYPE}:perf:${String(i).padStart(5, '0')}`;
const prop = (value, extra = {}) => ({ type: 'Property', value, ...extra });
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 10) / 10 : v]));

// Writes `rate` updates a second for `seconds` as batch updates (every 100 ms, one request of
// rate/10 entities, on schedule whether or not the previous one has been answered), each entity
// carrying the time its write was sent (sentAt, ms since the epoch) and a new LAeq.
async function writeLoad(server, ids, { rate, seconds, from }) {
  const tickMs = 100;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const t0 = performance.now();
  const inflight = new Set();
  const rtt = [];
  let sent = 0, next = from, error = null;
  for (let tick = 0; tick < (seconds * 1000) / tickMs; tick++) {
    const wait = t0 + tick * tickMs - performance.now();
    if (wait > 0) await sleep(wait);
    const now = Date.now();
    const body = [];
    for (let j = 0; j < perTick; j++, next++) {
      body.push({ id: ids[next % ids.length], type: TYPE, LAeq: prop(35 + ((next * 37) % 50), { unitCode: '2N' }), sentAt: prop(now) });
    }
    const t = performance.now();
    const p = server.api('/entityOperations/update', { method: 'POST', body, expect: [204] })
      .then(() => rtt.push(performance.now() - t), (err) => { error ??= err; })
      .finally(() => inflight.delete(p));
    inflight.add(p);
    sent += body.length;
  }
  await Promise.all(inflight);
  if (error) throw error;
  const secs = (performance.now() - t0) / 1000;
  return { sent, next, rate: sent / secs, batchMs: frameStats(rtt) };
}

// In the page: frame times (rAF deltas) and write-to-display lags from now until stopped.
const startRecording = (page) => page.evaluate(() => {
  const r = window.perfRecording = { frames: [], lags: [], pending: [], stop: false, updates0: window.civitas.updates };
  window.civitas.onUpdate = (e) => { if (typeof e.sentAt === 'number') r.pending.push(e.sentAt); };
  let last = 0;
  const frame = (t) => {
    if (last) r.frames.push(t - last);
    last = t;
    if (r.pending.length) {
      const now = Date.now();
      for (const s of r.pending) r.lags.push(now - s);
      r.pending.length = 0;
    }
    if (!r.stop) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
});
const stopRecording = (page) => page.evaluate(() => {
  const r = window.perfRecording;
  r.stop = true;
  window.civitas.onUpdate = null;
  return { frames: r.frames, lags: r.lags, received: window.civitas.updates - r.updates0 };
});

// Streams at RATE for `seconds` while recording; `during` runs alongside (map interaction).
async function measure(page, server, ids, { seconds, from, during = async () => {} }) {
  await startRecording(page);
  const updates0 = await page.evaluate(() => window.civitas.updates);
  const gauge = cpuGauge();
  const [load] = await Promise.all([writeLoad(server, ids, { rate: RATE, seconds, from }), during(seconds)]);
  // Not falling behind: every update written is shown shortly after the last write.
  const tEnd = Date.now();
  await page.waitForFunction(([u0, n]) => window.civitas.updates - u0 >= n, [updates0, load.sent], { timeout: 5000, polling: 20 })
    .catch(() => {});
  const drainMs = Date.now() - tEnd;
  const cpu = gauge();
  await sleep(100);
  const rec = await stopRecording(page);
  const frames = frameStats(rec.frames);
  const lags = frameStats(rec.lags);
  return { load, rec, frames, lags, drainMs, cpu };
}

function check(name, m) {
  const f = round(m.frames), l = round(m.lags);
  const busy = m.cpu.others >= BUSY_CORES;
  console.log(`       ${name}: ${m.load.sent} updates at ${m.load.rate.toFixed(0)}/s (batch of ${Math.round(RATE / 10)} answered in p50 ${m.load.batchMs.p50.toFixed(1)} ms, max ${m.load.batchMs.max.toFixed(1)} ms); the test used ${m.cpu.ours.toFixed(2)} cores, other work ${m.cpu.others.toFixed(2)}`);
  console.log(`       frames: ${f.count}, p50 ${f.p50} ms, p95 ${f.p95} ms, p99 ${f.p99} ms, max ${f.max} ms`);
  console.log(`       write to display: p50 ${l.p50} ms, p95 ${l.p95} ms, max ${l.max} ms; all shown ${m.drainMs} ms after the last write`);
  // Whatever the machine: every update written reaches the page and is displayed.
  assertEq(m.rec.received, m.load.sent, 'updates the page received');
  assertEq(m.lags.count, m.load.sent, 'updates displayed');
  if (busy) {
    console.log(`       timing bounds not asserted: other work took ${m.cpu.others.toFixed(2)} cores (>= ${BUSY_CORES}) of this machine meanwhile`);
  } else {
    assert(m.load.rate >= RATE * 0.9, `the load loop wrote ${m.load.rate.toFixed(0)} updates/s, not ${RATE}`);
    assert(m.frames.count >= 10 * (m.load.sent / RATE), `only ${m.frames.count} frames in ${m.load.sent / RATE} s`);
    assert(m.frames.p95 <= FRAME_P95_MS, `frame time p95 ${f.p95} ms > ${FRAME_P95_MS} ms`);
    assert(m.frames.max <= FRAME_MAX_MS, `longest frame ${f.max} ms > ${FRAME_MAX_MS} ms`);
    assert(m.lags.p95 <= LAG_P95_MS, `write-to-display p95 ${l.p95} ms > ${LAG_P95_MS} ms`);
    assert(m.lags.max <= LAG_MAX_MS, `write-to-display max ${l.max} ms > ${LAG_MAX_MS} ms`);
  }
  return { frames: f, lags: l, rate: Math.round(m.load.rate), drainMs: m.drainMs, otherCores: Math.round(m.cpu.others * 100) / 100, asserted: !busy };
}

export async function run({ server, browser, test, figures }) {
  const dir = artifactsDir();
  const ids = Array.from({ length: ENTITIES }, (_, i) => sensorId(i));
  const perf = figures.perf = { entities: ENTITIES, rate: RATE };
  let page, next = 0, densest;

  await test(`setup: ${ENTITIES} noise sensors over the 24 districts`, async () => {
    const areas = (await server.api('/entities?type=AdministrativeArea&limit=1000&options=keyValues')).json;
    assertEq(areas.length, 24, 'demo districts');
    // The smallest district holds as many sensors as the others: the street-level view goes there.
    const box = (g) => { const r = (g.type === 'Polygon' ? g.coordinates : g.coordinates[0])[0]; const xs = r.map((c) => c[0]), ys = r.map((c) => c[1]);
      return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]; };
    const boxes = areas.map((a) => box(a.location));
    const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
    const small = boxes.reduce((a, b) => (area(b) < area(a) ? b : a));
    densest = [(small[1] + small[3]) / 2, (small[0] + small[2]) / 2];
    const t = performance.now();
    for (let i = 0; i < ENTITIES; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(ENTITIES, i + 1000); j++) {
        batch.push({ id: ids[j], type: TYPE, LAeq: prop(35 + ((j * 13) % 50), { unitCode: '2N' }),
          location: { type: 'GeoProperty', value: { type: 'Point', coordinates: pointIn(areas[j % areas.length].location, j) } } });
      }
      await server.api('/entityOperations/create', { method: 'POST', body: batch, expect: [201] });
    }
    assertEq(await server.count({ type: TYPE }), ENTITIES, 'sensors via the API');
    perf.createMs = Math.round(performance.now() - t);
  });

  // A cold load in a new browser context: ms from the start of the navigation to the frame
  // after the last marker went in (probe.loadedAt), the main thread's CPU time (which does not
  // depend on what else the machine runs) and the page's marks (where the time went).
  async function firstLoad(attempt) {
    const p = await browser.newPage(`perf-${attempt}`);
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    const gauge = cpuGauge();
    await p.goto(`${server.base}/?type=${TYPE}`);
    await p.waitForFunction(() => window.civitas?.loadedAt > 0, undefined, { timeout: 20000, polling: 20 });
    const cpu = gauge();
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    await cdp.detach();
    const ms = await p.evaluate(() => window.civitas.loadedAt);
    const marks = await p.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark')
      .filter((m) => m.name.startsWith('civitas:')).map((m) => [m.name.slice(8), Math.round(m.startTime)])));
    assertEq(await p.evaluate(() => window.civitas.markerCount()), ENTITIES, 'markers');
    const cpuMs = Math.round(metrics.ThreadTime * 1000);
    const busy = cpu.others >= BUSY_CORES;
    console.log(`       ${ENTITIES} markers drawn ${ms.toFixed(0)} ms after the navigation started (main thread CPU ${cpuMs} ms; other work ${cpu.others.toFixed(2)} cores${busy ? ', busy' : ''}, load average ${loadavg()[0].toFixed(1)}); marks ${JSON.stringify(marks)}`);
    return { page: p, ms, cpuMs, marks, busy, others: cpu.others };
  }

  await test(`first load: ${ENTITIES} markers in under ${LOAD_MS} ms`, async () => {
    // Up to three cold loads: the first one in time on a machine the test had to itself passes.
    // When other work kept the machine busy during all three, the time is reported and the
    // main thread's CPU time is checked instead.
    const runs = [];
    for (let attempt = 1; attempt <= 3 && !runs.some((r) => !r.busy && r.ms < LOAD_MS); attempt++) runs.push(await firstLoad(attempt));
    const quiet = runs.filter((r) => !r.busy);
    const best = (quiet.length ? quiet : runs).reduce((a, b) => (b.ms < a.ms ? b : a));
    for (const r of runs) if (r !== best) await r.page.context().close();
    page = best.page;
    await page.waitForFunction(() => document.querySelector('#conn').dataset.state === 'live', undefined, { timeout: 10000 });
    Object.assign(perf, { firstLoadMs: Math.round(best.ms), firstLoadMainThreadCpuMs: best.cpuMs, firstLoadMarks: best.marks,
      firstLoadOtherCores: Math.round(best.others * 100) / 100, firstLoadAsserted: !best.busy });
    assert(best.cpuMs < LOAD_CPU_MS, `the first load took ${best.cpuMs} ms of main-thread CPU (bound ${LOAD_CPU_MS} ms)`);
    if (best.busy) console.log(`       first-load time not asserted: other work kept the machine busy during all ${runs.length} loads`);
    else assert(best.ms < LOAD_MS, `first load took ${best.ms.toFixed(0)} ms (best of ${runs.length})`);
    await page.screenshot({ path: join(dir, 'perf-city.png') });
  });

  await test(`${RATE} updates/s over the whole city (clustered, zooming in and out)`, async () => {
    const during = async (seconds) => {
      // Zoom in and out once a second (animated): the clusters are rebuilt while updates arrive.
      for (let s = 1; s < seconds; s++) {
        await sleep(1000);
        await page.evaluate((inward) => { const m = window.civitas.map; inward ? m.zoomIn() : m.zoomOut(); }, s % 2 === 1);
      }
    };
    const m = await measure(page, server, ids, { seconds: SECONDS, from: next, during });
    next = m.load.next;
    perf.city = check('whole city', m);
  });

  await test(`${RATE} updates/s at street level (markers drawn unclustered)`, async () => {
    await page.evaluate((at) => { window.civitas.map.setView(at, 16, { animate: false }); }, densest);
    await sleep(300);
    const visible = await page.evaluate(() => window.civitas.visibleMarkers());
    assert(visible > 0, 'markers drawn at street level');
    const m = await measure(page, server, ids, { seconds: STREET_SECONDS, from: next });
    perf.street = { ...check(`street level (${visible} markers in view)`, m), markersInView: visible };
    await page.screenshot({ path: join(dir, 'perf-street.png') });
  });
}
