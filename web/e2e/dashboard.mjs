// The dashboard against the demo city (Aarhus: 8 car parks, 24 districts) plus air-quality
// sensors this test adds through the API: markers, filters, the entity panel, live updates,
// alerts, a server restart, a phone-size screen and the console.
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { contrastRatio, effectiveBackground, parseCssColour } from '../src/logic.js';
import { ROOT, artifactsDir, assert, assertEq, pointIn, sleep } from './harness.mjs';

const AQ = 'AirQualityObserved';
const sensorId = (i) => `urn:ngsi-ld:${AQ}:e2e:${String(i).padStart(3, '0')}`;

const prop = (value, observedAt) => ({ type: 'Property', value, ...(observedAt ? { observedAt } : {}) });

// In the page: waits until fn(window.civitas, arg) is truthy.
const until = (page, fn, arg, timeout = 10000) => page.waitForFunction(fn, arg, { timeout, polling: 20 });
const loaded = (page) => until(page, () => window.civitas?.loadedAt > 0);

// Readable colours: every piece of visible text (and each form control's) against what lies
// behind it has a WCAG contrast of at least 4.5:1 (AA for normal text).
async function checkContrast(page, where) {
  const items = await page.evaluate(() => {
    const out = [];
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility === 'visible';
    for (const el of document.querySelectorAll('body *')) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      const control = ['SELECT', 'BUTTON', 'INPUT'].includes(el.tagName) && (el.value || el.textContent).trim();
      if ((!own && !control) || el.closest('[hidden]') || !visible(el) || el.tagName === 'OPTION') continue;
      const backgrounds = [];
      for (let a = el; a; a = a.parentElement) {
        const bg = getComputedStyle(a).backgroundColor;
        backgrounds.push(bg);
        if (/^rgb\(/.test(bg)) break;
      }
      out.push({ text: (own ? el.textContent : el.value || el.textContent).trim().slice(0, 30), tag: el.tagName, cls: String(el.className).slice(0, 40), color: getComputedStyle(el).color, opacity: getComputedStyle(el).opacity, backgrounds });
    }
    return out;
  });
  assert(items.length > 20, `only ${items.length} texts found`);
  const poor = items.map((i) => ({ ...i, ratio: contrastRatio(parseCssColour(i.color), effectiveBackground(i.backgrounds)) }))
    .filter((i) => i.ratio < 4.5);
  assert(poor.length === 0, `text below 4.5:1 (${where}):\n${poor.map((i) => `  ${i.tag}.${i.cls} "${i.text}" ${i.color} on ${i.backgrounds.join(' < ')}: ${i.ratio.toFixed(2)}`).join('\n')}`);
  return items.length;
}

async function applyFilters(page, { type, district = '' }) {
  await page.selectOption('#type', type);
  await page.selectOption('#district', district);
  await page.evaluate(() => { window.civitas.loadedAt = 0; });
  await page.click('#filters button[type=submit]');
  await loaded(page);
}

export async function run({ server, browser, test, figures }) {
  const dir = artifactsDir();
  let districts, inside, outside, page;

  await test('setup: 2 air-quality sensors in each of the first 10 districts, with an hour of history', async () => {
    const areas = (await server.api('/entities?type=AdministrativeArea&limit=1000&options=keyValues')).json;
    assertEq(areas.length, 24, 'demo districts');
    districts = areas.map((a) => ({ id: a.id, name: a.name, geometry: a.location })).sort((a, b) => a.name.localeCompare(b.name));
    const now = Date.now();
    const sensors = [];
    for (let i = 0; i < 20; i++) {
      const d = districts[i >> 1];
      sensors.push({ id: sensorId(i), type: AQ, NO2: { ...prop(10 + i), unitCode: 'GQ', observedAt: new Date(now - 3600e3).toISOString() },
        PM10: prop(5 + i), location: { type: 'GeoProperty', value: { type: 'Point', coordinates: pointIn(d.geometry, i) } },
        refDistrict: { type: 'Relationship', object: d.id } });
    }
    await server.api('/entityOperations/create', { method: 'POST', body: sensors });
    // History for sensor 0: one value every 5 minutes over the last hour.
    for (let k = 11; k >= 1; k--) {
      await server.api(`/entities/${sensorId(0)}/attrs`, { method: 'PATCH',
        body: { NO2: { ...prop(10 + (k % 4) * 3, new Date(now - k * 5 * 60e3).toISOString()), unitCode: 'GQ' } } });
    }
    inside = { id: sensorId(2), district: districts[1] };   // two sensors in districts[1]
    outside = { id: sensorId(6), district: districts[3] };
  });

  await test('the page loads with one marker per entity of the first type', async () => {
    page = await browser.newPage('desktop');
    await page.goto(server.base + '/');
    await loaded(page);
    const type = await page.inputValue('#type');
    assertEq(JSON.stringify(await page.evaluate(() => window.civitas.failures)), '[]', 'failed API calls');
    assertEq(type, AQ, 'first type');
    const expected = await server.count({ type });
    assertEq(expected, 20, 'sensors via the API');
    assertEq(await page.evaluate(() => window.civitas.markerCount()), expected, 'markers');
    await until(page, (n) => document.querySelector('#total').textContent === `(${n} shown)`, expected);
    await until(page, () => document.querySelector('#conn').dataset.state === 'live');
  });

  await test('type filter: OffStreetParking gives the car parks the API counts', async () => {
    await applyFilters(page, { type: 'OffStreetParking' });
    const expected = await server.count({ type: 'OffStreetParking' });
    assertEq(expected, 8, 'car parks via the API');
    assertEq(await page.evaluate(() => window.civitas.markerCount()), expected, 'markers');
    await page.screenshot({ path: join(dir, 'type-filter.png') });
  });

  await test('district filter: the sensors within one district, as the geo-query counts them', async () => {
    const d = inside.district;
    await applyFilters(page, { type: AQ, district: d.id });
    const expected = await server.count({ type: AQ, georel: 'within', geometry: d.geometry.type, coordinates: JSON.stringify(d.geometry.coordinates) });
    assertEq(expected, 2, `sensors in ${d.name} via the API`);
    assertEq(await page.evaluate(() => window.civitas.markerCount()), expected, 'markers');
    await until(page, ([name, n]) => [...document.querySelectorAll('#counts tbody tr')]
      .some((tr) => tr.cells[0].textContent === name && tr.cells[1].textContent === String(n)), [d.name, expected]);
    await page.screenshot({ path: join(dir, 'district-filter.png') });
    await applyFilters(page, { type: AQ });
  });

  await test('keyboard: Enter on a list row opens the entity panel with a history chart', async () => {
    const row = page.locator(`#list button[data-id="${sensorId(0)}"]`);
    await row.waitFor();
    await row.focus();
    await page.keyboard.press('Enter');
    await page.locator('#panel h2').filter({ hasText: sensorId(0) }).waitFor();
    assertEq(await page.evaluate(() => document.activeElement?.textContent), sensorId(0), 'focus on the panel heading');
    await page.selectOption('#panel select[aria-label="Time range"]', 'hour');
    await page.selectOption('#panel select[aria-label="Aggregation period"]', 'PT1M');
    // One minute over the last hour: about 55 points (the history is 5-minute steps plus the
    // sensor's creation an hour ago; a 5-minute chart would have 12 or 13).
    await until(page, () => Number(document.querySelector('#panel .chart')?.dataset.points) > 20);
    assert(await page.locator('#panel .chart canvas').count() > 0, 'a uPlot canvas');
    const points = await page.evaluate(() => Number(document.querySelector('#panel .chart').dataset.points));
    figures.historyPoints = points;
    await page.locator('#panel').screenshot({ path: join(dir, 'entity-panel.png') });
    // Space works too: close the panel, open the first entity of the list with the keyboard.
    await page.click('#panel button:text("Close")');
    await page.waitForSelector('#panel', { state: 'hidden' });
    const first = page.locator('#list button').first();
    const id = await first.getAttribute('data-id');
    await first.focus();
    await page.keyboard.press(' ');
    await page.locator('#panel h2').filter({ hasText: id }).waitFor();
  });

  await test('mouse: hovering a marker shows its tooltip, clicking it opens its panel', async () => {
    const id = sensorId(4);
    const at = await page.evaluate((i) => {
      const c = window.civitas, m = c.state.markers.get(i);
      c.map.setView(m.getLatLng(), 17, { animate: false });
      const p = c.map.latLngToContainerPoint(m.getLatLng());
      const r = document.getElementById('map').getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    }, id);
    await until(page, (i) => window.civitas.map.hasLayer(window.civitas.state.markers.get(i)), id);
    await page.mouse.move(at.x, at.y);
    await page.locator('.leaflet-tooltip').filter({ hasText: id.split(':').pop() }).waitFor({ timeout: 5000 });
    await page.mouse.click(at.x, at.y);
    await page.locator('#panel h2').filter({ hasText: id }).waitFor({ timeout: 5000 });
    await page.click('#panel button:text("Close")');
    await page.evaluate(() => { const c = window.civitas; c.map.fitBounds(c.state.districts.map((d) => d.geometry)
      .flatMap((g) => (g.type === 'Polygon' ? g.coordinates[0] : g.coordinates[0][0]).map(([x, y]) => [y, x]))); });
  });

  await test('keyboard: Tab reaches a marker and a cluster; Enter or Space opens its panel or zooms in; the focus shows', async () => {
    const fitCity = () => page.evaluate(() => { const c = window.civitas; c.map.fitBounds(c.state.districts.map((d) => d.geometry)
      .flatMap((g) => (g.type === 'Polygon' ? g.coordinates[0] : g.coordinates[0][0]).map(([x, y]) => [y, x])), { animate: false }); });
    // Tabs from the map until fn(document.activeElement, arg) holds (at most 40).
    const tabTo = async (fn, arg) => {
      await page.focus('#map');
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(([f, a]) => new Function('el', 'arg', `return (${f})(el, arg)`)(document.activeElement, a), [String(fn), arg])) return;
      }
      throw new Error(`Tab did not reach ${fn}: ${await page.evaluate(() => [...document.querySelectorAll('#map [tabindex]')].map((e) => `${e.tagName}.${e.getAttribute('class')}`).join(' '))} zoom ${await page.evaluate(() => window.civitas.map.getZoom())}`);
    };
    const id = sensorId(4);
    await page.evaluate((i) => { const c = window.civitas; c.map.setView(c.state.markers.get(i).getLatLng(), 17, { animate: false }); }, id);
    await until(page, (i) => window.civitas.map.hasLayer(window.civitas.state.markers.get(i)), id);
    await tabTo((el, i) => el?.dataset?.id === i, id);
    assertEq(await page.evaluate(() => document.activeElement.getAttribute('role')), 'button', 'the marker\'s role');
    assert((await page.evaluate(() => document.activeElement.getAttribute('aria-label'))).startsWith(id.split(':').pop()), 'the marker is named after its entity');
    // The focus shows: a thick edge and a solid outline, which the marker has not unfocused.
    const ring = () => page.evaluate((i) => { const s = getComputedStyle(document.querySelector(`#map path[data-id="${i}"]`));
      return { edge: parseFloat(s.strokeWidth), outline: s.outlineStyle }; }, id);
    const focused = await ring();
    assert(focused.edge >= 3 && focused.outline === 'solid', `focus ring ${JSON.stringify(focused)}`);
    await page.locator('#map path[data-id]').first().screenshot({ path: join(dir, 'keyboard-marker.png') }).catch(() => {});
    await page.screenshot({ path: join(dir, 'keyboard-marker-map.png') });
    await page.keyboard.press('Enter');
    await page.locator('#panel h2').filter({ hasText: id }).waitFor();
    await until(page, (i) => document.activeElement?.textContent === i, id);  // focus on the panel heading
    const unfocused = await ring();
    assert(unfocused.edge < 3 && unfocused.outline !== 'solid', `no ring without the focus: ${JSON.stringify(unfocused)}`);
    // Tab to Close, Enter: the panel closes and the focus is back on the marker; Space opens it again.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#panel', { state: 'hidden' });
    assertEq(await page.evaluate(() => document.activeElement?.dataset?.id), id, 'focus back on the marker');
    await page.keyboard.press(' ');
    await until(page, (i) => document.activeElement?.textContent === i, id);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    // Clusters over the whole city: Enter zooms into one, and so does Space.
    for (const key of ['Enter', ' ']) {
      await fitCity();
      const zoom = await page.evaluate(() => window.civitas.map.getZoom());
      await tabTo((el) => el?.classList?.contains('marker-cluster'));
      await page.keyboard.press(key);
      await until(page, (z) => window.civitas.map.getZoom() > z, zoom, 5000)
        .catch((err) => { throw new Error(`${JSON.stringify(key)} on a cluster left the zoom at ${zoom}: ${err.message}`); });
      await until(page, () => !document.querySelector('#map .leaflet-zoom-anim'));  // the zoom's animation ended
    }
    await fitCity();
  });

  await test('an update through the API changes its marker within one second', async () => {
    const id = sensorId(5);
    const before = await page.evaluate((i) => window.civitas.state.markers.get(i).options.fillColor, id);
    const t0 = Date.now();
    await server.api(`/entities/${id}/attrs`, { method: 'PATCH', body: { NO2: prop(39) } });
    await until(page, ([i, t]) => window.civitas.updatedAt.get(i) >= t && window.civitas.state.entities.get(i).NO2 === 39, [id, t0]);
    const ms = (await page.evaluate((i) => window.civitas.updatedAt.get(i), id)) - t0;
    const after = await page.evaluate((i) => window.civitas.state.markers.get(i).options.fillColor, id);
    assert(after !== before, `the marker's colour changed (${before} -> ${after})`);
    figures.updateLatencyMs = ms;
    console.log(`       update shown ${ms} ms after the PATCH was sent`);
    assert(ms < 1000, `update shown after ${ms} ms`);
  });

  await test('a sensor that moves to another district is shown and counted there', async () => {
    const id = sensorId(9);   // in districts[4]
    const to = districts[8];
    const at = pointIn(to.geometry, 99);
    await server.api(`/entities/${id}/attrs`, { method: 'PATCH', body: { location: { type: 'GeoProperty', value: { type: 'Point', coordinates: at } } } });
    await until(page, ([i, x]) => window.civitas.state.markers.get(i).getLatLng().lng === x, [id, at[0]]);
    // At street level around its new place the cluster group draws it there.
    await page.evaluate(([y, x]) => { window.civitas.map.setView([y, x], 17, { animate: false }); }, [at[1], at[0]]);
    await until(page, (i) => window.civitas.map.hasLayer(window.civitas.state.markers.get(i)), id, 5000);
    await until(page, ([name, n]) => [...document.querySelectorAll('#counts tbody tr')]
      .some((tr) => tr.cells[0].textContent === name && tr.cells[1].textContent === String(n)), [to.name, 3]);
    await page.evaluate(() => { const c = window.civitas; c.map.fitBounds(c.state.districts.map((d) => d.geometry)
      .flatMap((g) => (g.type === 'Polygon' ? g.coordinates[0] : g.coordinates[0][0]).map(([x, y]) => [y, x]))); });
  });

  let alertId;
  await test('alerts: NO2 > 40 in a district is a subscription; a breach is listed and highlighted', async () => {
    await page.selectOption('#alert-type', AQ);
    await page.fill('#alert-attr', 'NO2');
    await page.selectOption('#alert-op', '>');
    await page.fill('#alert-value', '40');
    await page.selectOption('#alert-district', inside.district.id);
    await page.click('#alert-form button[type=submit]');
    const li = page.locator('#alerts > li');
    await li.first().waitFor();
    assertEq(await li.count(), 1, 'alerts listed');
    alertId = await li.first().getAttribute('data-id');
    const sub = (await server.api(`/subscriptions/${encodeURIComponent(alertId)}`)).json;
    assertEq(sub.q, 'NO2>40', 'subscription q');
    assertEq(sub.notification.endpoint.uri, 'urn:civitas:sse', 'subscription endpoint');
    assertEq(sub.entities[0].type, AQ, 'subscription type');
    assertEq(sub.geoQ?.georel, 'within', 'subscription geoQ');
    assertEq(await page.locator('#alerts .breaching-list button').count(), 0, 'nothing breaches yet');
    // Wait for the alert's stream, then breach outside the district (ignored) and inside it.
    await until(page, (id) => window.civitas.state.alerts.get(id)?.conn === 'live', alertId);
    await server.api(`/entities/${outside.id}/attrs`, { method: 'PATCH', body: { NO2: prop(60) } });
    const t0 = Date.now();
    await server.api(`/entities/${inside.id}/attrs`, { method: 'PATCH', body: { NO2: prop(55) } });
    await page.locator(`#alerts .breaching-list button[data-id="${inside.id}"]`).waitFor({ timeout: 5000 });
    figures.alertLatencyMs = Date.now() - t0;
    await until(page, (id) => window.civitas.highlighted().includes(id), inside.id);
    assertEq(JSON.stringify(await page.evaluate(() => window.civitas.highlighted())), JSON.stringify([inside.id]), 'highlighted on the map');
    assertEq(await page.locator(`#alerts .breaching-list button[data-id="${outside.id}"]`).count(), 0, 'the breach outside the district is not listed');
    assert((await li.first().getAttribute('class')).includes('breaching'), 'the alert is marked as breaching');
    await page.screenshot({ path: join(dir, 'alert.png') });
    figures.contrastChecked = await checkContrast(page, 'an alert breaching');
  });

  await test('alerts: kept across a reload, cleared when the value drops, deleted with their subscription', async () => {
    await page.reload();
    await loaded(page);
    await page.locator(`#alerts > li[data-id="${alertId}"] .breaching-list button[data-id="${inside.id}"]`).waitFor();
    await until(page, (id) => window.civitas.state.alerts.get(id)?.conn === 'live', alertId);
    await server.api(`/entities/${inside.id}/attrs`, { method: 'PATCH', body: { NO2: prop(20) } });
    await until(page, (id) => document.querySelectorAll(`#alerts .breaching-list button[data-id="${id}"]`).length === 0, inside.id, 5000);
    await until(page, () => window.civitas.highlighted().length === 0);
    // Enter on the Delete button (keyboard) deletes the subscription.
    await page.locator(`#alerts > li[data-id="${alertId}"] button:text("Delete")`).focus();
    await page.keyboard.press('Enter');
    await until(page, () => document.querySelectorAll('#alerts > li').length === 0);
    await server.api(`/subscriptions/${encodeURIComponent(alertId)}`, { expect: [404] });
  });

  await test('after a server restart the page reconnects and shows new updates', async () => {
    // Errors expected while the server is down: the browser's failed loads and stream retries.
    const done = browser.expectErrorsDuring(/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|Failed to load resource|EventSource/);
    const t0 = Date.now();
    await server.stop();
    await until(page, () => document.querySelector('#conn').dataset.state !== 'live', undefined, 10000);
    await server.start();
    await until(page, () => document.querySelector('#conn').dataset.state === 'live', undefined, 20000);
    const reconnectMs = Date.now() - t0;
    done();
    figures.reconnectMs = reconnectMs;
    console.log(`       live again ${reconnectMs} ms after the stop`);
    const id = sensorId(7);
    const t1 = Date.now();
    await server.api(`/entities/${id}/attrs`, { method: 'PATCH', body: { NO2: prop(33) } });
    await until(page, ([i, t]) => window.civitas.updatedAt.get(i) >= t && window.civitas.state.entities.get(i).NO2 === 33, [id, t1], 3000);
    const ms = (await page.evaluate((i) => window.civitas.updatedAt.get(i), id)) - t1;
    assert(ms < 1000, `update after the restart shown after ${ms} ms`);
    await page.screenshot({ path: join(dir, 'after-restart.png') });
  });

  await test('screenshots: the demo city on a desktop, a phone-size screen and a control-room screen', async () => {
    // The README's picture: the car parks of the demo city, one of them open with its last two
    // hours (written here, as a live city would), the map centred on it.
    const park = 'urn:ngsi-ld:OffStreetParking:aarhus:BRUUNS';
    const now = Date.now();
    for (let k = 24; k >= 0; k--) {
      const free = Math.round(400 + 250 * Math.sin(k / 5));
      await server.api(`/entities/${park}/attrs`, { method: 'PATCH', body: {
        availableSpotNumber: prop(free, new Date(now - k * 5 * 60e3).toISOString()),
        occupiedSpotNumber: prop(953 - free, new Date(now - k * 5 * 60e3).toISOString()) } });
    }
    const desk = await browser.newPage('screenshot');
    await desk.goto(server.base + '/?type=OffStreetParking');
    await loaded(desk);
    await desk.locator(`#list button[data-id="${park}"]`).click();
    await until(desk, () => Number(document.querySelector('#panel .chart')?.dataset.points) >= 10);
    await desk.evaluate(() => { window.civitas.map.setZoom(15, { animate: false }); });
    await sleep(500);
    await checkContrast(desk, 'an entity panel open');
    await desk.screenshot({ path: join(dir, 'dashboard.png') });
    await desk.close();
    const phone = await browser.newPage('phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await phone.goto(server.base + '/');
    await loaded(phone);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
    await phone.screenshot({ path: join(dir, 'phone.png'), fullPage: true });
    await phone.close();
    // A control-room screen: the map takes the room, nothing scrolls sideways.
    const wall = await browser.newPage('control-room', { viewport: { width: 2560, height: 1440 } });
    await wall.goto(server.base + '/');
    await loaded(wall);
    const fit = await wall.evaluate(() => {
      const r = document.getElementById('map').getBoundingClientRect();
      return { w: r.width, h: r.height, overflow: document.documentElement.scrollWidth - window.innerWidth };
    });
    assert(fit.overflow <= 0 && fit.w >= 2000 && fit.h >= 1200, `control-room layout: map ${fit.w}x${fit.h}, overflow ${fit.overflow}px`);
    await wall.screenshot({ path: join(dir, 'control-room.png') });
    await wall.close();
    if (process.env.E2E_UPDATE_DOCS) {
      copyFileSync(join(dir, 'dashboard.png'), join(ROOT, 'docs/dashboard.png'));
      console.log(`       docs/dashboard.png updated (${statSync(join(ROOT, 'docs/dashboard.png')).size} bytes)`);
    }
  });
}
