// The end-to-end harness: a release `civitas serve` with the demo city on a free loopback port
// and a temporary data directory, serving the built web/dist, and Debian's chromium driven by
// playwright-core (no browser download). Used by run.mjs.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { inPolygon } from '../src/logic.js';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const ARTIFACTS = process.env.E2E_ARTIFACTS || join(ROOT, 'build/e2e-artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CIVITAS = process.env.CIVITAS_BIN || join(ROOT, 'build/release/src/server/civitas');

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One Civitas process; restart() stops it and starts it again on the same port and data dir.
export class Server {
  constructor() { this.proc = null; this.log = []; }
  async start() {
    this.port ??= await freePort();
    this.data ??= mkdtempSync(join(tmpdir(), 'civitas-e2e-'));
    this.base = `http://127.0.0.1:${this.port}`;
    const proc = spawn(CIVITAS, ['serve', '--port', String(this.port), '--bind', '127.0.0.1', '--data', this.data,
      '--demo', join(ROOT, 'data/demo'), '--web', join(ROOT, 'web/dist')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    // Never left behind: killed when this process ends, however it ends.
    const orphan = () => { if (proc.exitCode === null) proc.kill('SIGKILL'); };
    process.once('exit', orphan);
    proc.once('exit', () => process.off('exit', orphan));
    if (!this.cleanup) {
      this.cleanup = () => rmSync(this.data, { recursive: true, force: true });
      process.once('exit', this.cleanup);
    }
    const keep = (d) => { this.log.push(String(d)); if (this.log.length > 200) this.log.shift(); };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.exited = new Promise((r) => proc.on('exit', r));
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`civitas exited: ${this.log.join('')}`);
      const ok = await fetch(`${this.base}/health`).then((r) => r.ok, () => false);
      if (ok) return;
      await sleep(50);
    }
    throw new Error('civitas did not become healthy in 10 s');
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await this.proc.exited;
    clearTimeout(t);
  }
  async restart() { await this.stop(); await this.start(); }
  async dispose() {
    await this.stop();
    if (this.cleanup) { process.off('exit', this.cleanup); this.cleanup(); this.cleanup = null; }
  }

  // The NGSI-LD API: JSON in, JSON (or null) out; throws on an unexpected status.
  async api(path, { method = 'GET', body, tenant, expect = [200, 201, 204], headers = {} } = {}) {
    const h = { Accept: 'application/json', ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (tenant) h['NGSILD-Tenant'] = tenant;
    const res = await fetch(`${this.base}/ngsi-ld/v1${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
  }
  // The number of entities a query selects (NGSILD-Results-Count).
  async count(params, tenant) {
    const p = new URLSearchParams({ ...params, count: 'true', limit: '0' });
    const r = await this.api(`/entities?${p}`, { tenant });
    return Number(r.headers.get('NGSILD-Results-Count'));
  }
}

// Browser UI that headless chromium (156) builds for each new window, i.e. each browser context,
// although nothing shows it: the omnibox popup, a WebUI page of some 150 modules preloaded in a
// renderer of its own. It took about a second of CPU right when a new context's page loaded
// (the perf suite's cold first loads), on a 2-core machine half of what the page had.
const UNUSED_FEATURES = ['PreloadTopChromeWebUI', 'WebUIOmniboxPopup', 'WebUIOmniboxFullPopup', 'WebUIOmniboxAimPopup'];

// playwright-core's own --disable-features switch, read back from the browser it launches
// (chromium keeps only the last --disable-features, so ours must carry its list too).
async function defaultDisabledFeatures(options) {
  const probe = await chromium.launch(options);
  let found = null;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
        found = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('--disable-features=')) || found;
      } catch { /* gone meanwhile */ }
    }
  } finally {
    await probe.close();
  }
  return found;
}

// Chromium with every page's console errors and uncaught exceptions collected.
export async function launchBrowser() {
  const options = { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] };
  const defaults = await defaultDisabledFeatures(options);
  const disabled = [...(defaults ? defaults.slice('--disable-features='.length).split(',') : []), ...UNUSED_FEATURES];
  const browser = await chromium.launch({ ...options, ignoreDefaultArgs: defaults ? [defaults] : [],
    args: [...options.args, `--disable-features=${disabled.join(',')}`] });
  const errors = [];
  const allowed = [];  // {from, to, pattern}: windows in which some errors are expected
  const track = (page, label) => {
    page.on('console', (m) => { if (m.type() === 'error') errors.push({ at: Date.now(), page: label, text: m.text() }); });
    page.on('pageerror', (e) => errors.push({ at: Date.now(), page: label, text: `uncaught: ${e.message}` }));
    return page;
  };
  return {
    browser,
    async newPage(label, options = {}) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
      return track(await context.newPage(), label);
    },
    // Errors expected while the server is deliberately down (failed loads during a restart).
    expectErrorsDuring(pattern) {
      const w = { from: Date.now(), to: Infinity, pattern };
      allowed.push(w);
      return () => { w.to = Date.now() + 500; };
    },
    unexpectedErrors() {
      return errors.filter((e) => !allowed.some((w) => e.at >= w.from && e.at <= w.to && w.pattern.test(e.text)));
    },
  };
}

export function artifactsDir() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

// A minimal runner: named steps, timings, a summary; the first failure of a file stops that file
// (later steps build on earlier ones).
export function makeTest(results) {
  return async function test(name, fn) {
    const t = performance.now();
    try {
      await fn();
      const ms = performance.now() - t;
      results.push({ name, ok: true, ms });
      console.log(`  ok   ${name} (${ms.toFixed(0)} ms)`);
    } catch (err) {
      const ms = performance.now() - t;
      results.push({ name, ok: false, ms, err });
      console.log(`  FAIL ${name} (${ms.toFixed(0)} ms)\n       ${String(err?.stack || err).split('\n').slice(0, 6).join('\n       ')}`);
      throw err;
    }
  };
}

export function assert(cond, message) { if (!cond) throw new Error(message); }
export function assertEq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

export const haveChromium = () => existsSync(CHROMIUM);
export const haveCivitas = () => existsSync(CIVITAS);

// A deterministic point inside a district polygon (GeoJSON Polygon or MultiPolygon).
export function pointIn(geometry, seed) {
  const ring = geometry.type === 'Polygon' ? geometry.coordinates[0] : geometry.coordinates[0][0];
  const xs = ring.map((c) => c[0]), ys = ring.map((c) => c[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  let s = seed * 7919 + 17;
  const rnd = () => { s = (s * 48271) % 2147483647; return s / 2147483647; };
  for (let i = 0; i < 10000; i++) {
    const p = [x0 + rnd() * (x1 - x0), y0 + rnd() * (y1 - y0)];
    if (inPolygon(p, geometry)) return p;
  }
  throw new Error('no point found inside the district');
}

// How much of the machine other work took while a timing was measured (Linux /proc): all CPU
// time minus that of this process and its descendants (chromium, civitas), in cores. Timing
// bounds mean something only when the test had the machine; on a shared, busy one they are
// reported, and the checks that do not depend on it (CPU time, every update shown) still hold.
function ticks() {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0);
  const procs = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(pid), { ppid: Number(rest[1]), cpu: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]) });
    } catch { /* gone meanwhile */ }
  }
  const ours = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of procs) if (!ours.has(pid) && ours.has(p.ppid)) { ours.add(pid); grew = true; }
  }
  let mine = 0;
  for (const pid of ours) mine += procs.get(pid)?.cpu || 0;
  return { busy, mine, at: performance.now() };
}
export function cpuGauge() {
  const a = ticks();
  return () => {
    const b = ticks();
    const secs = (b.at - a.at) / 1000;
    const hz = 100;  // USER_HZ
    const ours = (b.mine - a.mine) / hz / secs;
    const others = Math.max(0, (b.busy - a.busy) / hz / secs - ours);
    return { seconds: secs, ours, others };
  };
}
export const BUSY_CORES = Number(process.env.E2E_BUSY_CORES || 0.5);
