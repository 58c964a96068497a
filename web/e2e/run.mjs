#!/usr/bin/env node
// End-to-end and performance tests of the dashboard (issue 9); `./dev test` runs both.
//   node e2e/run.mjs [dashboard] [perf]     (from web/; both when none is named)
// Needs the release binary (build/release/src/server/civitas, or CIVITAS_BIN), the built
// web/dist (npm run build) and Debian's chromium (/usr/bin/chromium, or CHROMIUM). Starts its
// own Civitas on a free loopback port with a temporary data directory and the demo city, one
// per suite, and stops it. Any failure, a missing piece or a browser that does not start
// included, exits non-zero. After each suite, no errors may have reached the browser console.
// Screenshots go to build/e2e-artifacts/ (E2E_ARTIFACTS); E2E_UPDATE_DOCS=1 also copies the
// desktop one to docs/dashboard.png.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, CHROMIUM, CIVITAS, ROOT, Server, artifactsDir, haveChromium, haveCivitas, launchBrowser, makeTest } from './harness.mjs';

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const suites = wanted.length ? wanted : ['dashboard', 'perf'];
if (!haveChromium()) { console.error(`e2e: ${CHROMIUM} not found (apt-get install chromium)`); process.exit(2); }
if (!haveCivitas()) { console.error(`e2e: ${CIVITAS} not found (build the release preset)`); process.exit(2); }
if (!existsSync(join(ROOT, 'web/dist/index.html'))) { console.error('e2e: web/dist not built (npm run build)'); process.exit(2); }

// Ctrl-C, a kill or a closed pipe: exit through process.exit, which stops the servers.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE']) process.on(sig, () => process.exit(1));
process.stdout.on('error', () => process.exit(1));
artifactsDir();
const started = performance.now();
const results = [];
const figures = {};
const test = makeTest(results);
let failed = false;
for (const name of suites) {
  const { run } = await import(`./${name}.mjs`);
  const server = new Server();
  const first = results.length;
  console.log(`e2e ${name}:`);
  let browser;
  try {
    browser = await launchBrowser();
  } catch (err) {
    console.log(`  FAIL chromium (${CHROMIUM}) did not start: ${String(err?.message || err).split('\n')[0]}`);
    process.exit(1);
  }
  try {
    await server.start();
    await run({ server, browser, test, figures });
    await test('no errors in the browser console', async () => {
      const errors = browser.unexpectedErrors();
      if (errors.length) throw new Error(`console errors:\n${errors.map((e) => `[${e.page}] ${e.text}`).join('\n')}`);
    });
  } catch (err) {
    failed = true;
    if (!results.slice(first).some((r) => !r.ok)) console.log(`  FAIL ${name}: ${err?.stack || err}`);
    for (const e of browser.unexpectedErrors()) console.log(`  console [${e.page}]: ${e.text}`);
    console.log(`  server log (last lines):\n${server.log.join('').split('\n').slice(-15).join('\n')}`);
  } finally {
    await browser.browser.close().catch(() => {});
    await server.dispose();
  }
}
const secs = ((performance.now() - started) / 1000).toFixed(1);
writeFileSync(join(ARTIFACTS, 'figures.json'), JSON.stringify({ ...figures, seconds: Number(secs) }, null, 2));
console.log(`e2e: ${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length} failed in ${secs} s; figures ${JSON.stringify(figures)}`);
console.log(`e2e: screenshots in ${ARTIFACTS}`);
process.exit(failed ? 1 : 0);
