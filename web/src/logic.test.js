import { describe, expect, it } from 'vitest';
import { SCALE_STOPS, contrastRatio, effectiveBackground, parseCssColour, alertFromSubscription, alertSubscription, breaches, buildQ, colourFor, frameStats, inPolygon, inPrepared, preparePolygon, numericAttributes, positionOf, rangeOf, unitLabel, valueOf } from './logic.js';

describe('buildQ', () => {
  it('builds numeric, boolean and quoted terms', () => {
    expect(buildQ('NO2', '>', '40')).toBe('NO2>40');
    expect(buildQ('NO2', '<=', ' -1.5 ')).toBe('NO2<=-1.5');
    expect(buildQ('powerState', '==', 'true')).toBe('powerState==true');
    expect(buildQ('status', '==', 'free')).toBe('status=="free"');
  });
  it('is empty when incomplete or the operator is unknown', () => {
    expect(buildQ('', '>', '1')).toBe('');
    expect(buildQ('a', '>', '')).toBe('');
    expect(buildQ('a', '~=', '1')).toBe('');
  });
});

describe('entity mapping', () => {
  const kv = { id: 'urn:a', type: 'T', NO2: 41, status: 'free', location: { type: 'Point', coordinates: [10.2, 56.1] } };
  const norm = { id: 'urn:b', NO2: { type: 'Property', value: 12 }, refDistrict: { type: 'Relationship', object: 'urn:d' },
    location: { type: 'GeoProperty', value: { type: 'Polygon', coordinates: [[[1, 2], [3, 4], [5, 6], [1, 2]]] } } };
  it('reads values and positions in both forms', () => {
    expect(valueOf(kv.NO2)).toBe(41);
    expect(valueOf(norm.NO2)).toBe(12);
    expect(valueOf(norm.refDistrict)).toBe('urn:d');
    expect(positionOf(kv)).toEqual([10.2, 56.1]);
    expect(positionOf(norm)).toEqual([1, 2]);
    expect(positionOf({ id: 'x' })).toBeNull();
  });
  it('finds numeric attributes', () => {
    expect(numericAttributes([kv, norm])).toEqual(['NO2']);
  });
  it('scales colours and ranges', () => {
    expect(rangeOf([3, 'x', 1, NaN, 7])).toEqual([1, 7]);
    expect(unitLabel('GQ')).toBe('µg/m³');
    expect(unitLabel('XYZ')).toBe('XYZ');
  });
});

describe('colour scale', () => {
  const rgb = (c) => parseCssColour(c).slice(0, 3);
  const lum = (c) => contrastRatio(rgb(c), [0, 0, 0]);  // grows with relative luminance
  it('gives its stops at the ends and quarters, end colours outside the range, grey for no value', () => {
    expect(colourFor(1, 1, 7)).toBe('rgb(68, 1, 84)');
    expect(colourFor(2.5, 1, 7)).toBe('rgb(59, 82, 139)');
    expect(colourFor(4, 1, 7)).toBe('rgb(33, 145, 140)');
    expect(colourFor(7, 1, 7)).toBe('rgb(253, 231, 37)');
    expect(colourFor(-3, 1, 7)).toBe(colourFor(1, 1, 7));
    expect(colourFor(99, 1, 7)).toBe(colourFor(7, 1, 7));
    expect(colourFor(5, 5, 5)).toBe(colourFor(4, 1, 7));  // one value: the middle
    expect(colourFor(undefined, 1, 7)).toBe('rgb(136, 136, 136)');
    expect(colourFor(NaN, 1, 7)).toBe('rgb(136, 136, 136)');
    expect(SCALE_STOPS).toHaveLength(5);
  });
  it('gets lighter all the way from low to high (the order reads without hues)', () => {
    let last = 0;
    for (let i = 0; i <= 200; i++) {
      const l = lum(colourFor(i, 0, 200));
      expect(l).toBeGreaterThan(last);
      last = l;
    }
  });
  it('keeps the five legend steps apart by lightness alone', () => {
    const steps = [0, 1, 2, 3, 4].map((i) => colourFor(i, 0, 4));
    for (let i = 1; i < steps.length; i++) {
      expect(contrastRatio(rgb(steps[i]), rgb(steps[i - 1]))).toBeGreaterThan(1.5);
    }
    expect(contrastRatio(rgb(steps[4]), rgb(steps[0]))).toBeGreaterThan(10);
  });
});

describe('inPolygon', () => {
  const square = { type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]] };
  it('counts points inside and excludes holes', () => {
    expect(inPolygon([1, 1], square)).toBe(true);
    expect(inPolygon([5, 5], square)).toBe(false);
    expect(inPolygon([11, 1], square)).toBe(false);
    expect(inPolygon([1, 1], { type: 'MultiPolygon', coordinates: [square.coordinates] })).toBe(true);
  });
});

describe('alerts', () => {
  const district = { id: 'urn:d:1', name: 'Midtbyen', geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] } };
  it('makes a stream-only subscription with the threshold and the district', () => {
    const sub = alertSubscription({ type: 'AirQualityObserved', attr: 'NO2', op: '>', value: ' 40 ' }, district);
    expect(sub.type).toBe('Subscription');
    expect(sub.entities).toEqual([{ type: 'AirQualityObserved' }]);
    expect(sub.q).toBe('NO2>40');
    expect(sub.notification.endpoint.uri).toBe('urn:civitas:sse');
    expect(sub.geoQ).toEqual({ georel: 'within', geometry: 'Polygon', coordinates: district.geometry.coordinates });
    expect(sub.subscriptionName).toBe('Alert: AirQualityObserved NO2 > 40 in Midtbyen');
    expect(alertSubscription({ type: 'T', attr: 'a', op: '<', value: '1' }).geoQ).toBeUndefined();
    expect(() => alertSubscription({ type: 'T', attr: 'a', op: '>', value: '' })).toThrow();
  });
  it('reads an alert back from a listed subscription and ignores other subscriptions', () => {
    const sub = { id: 'urn:s:1', ...alertSubscription({ type: 'T', attr: 'NO2', op: '>=', value: '40' }, district) };
    expect(alertFromSubscription(sub)).toEqual({ id: 'urn:s:1', type: 'T', attr: 'NO2', op: '>=', value: '40',
      district: 'urn:d:1', districtName: 'Midtbyen', q: 'NO2>=40' });
    expect(alertFromSubscription({ ...sub, notification: { endpoint: { uri: 'http://x/n' } } })).toBeNull();
    expect(alertFromSubscription({ ...sub, description: 'a human note' })).toBeNull();
    expect(alertFromSubscription({ id: 'urn:s:2', notification: { endpoint: { uri: 'urn:civitas:sse' } } })).toBeNull();
  });
  it('judges breaches in the page like the server', () => {
    const a = { type: 'T', attr: 'NO2', op: '>', value: '40' };
    expect(breaches(a, { type: 'T', NO2: 41 })).toBe(true);
    expect(breaches(a, { type: 'T', NO2: 40 })).toBe(false);
    expect(breaches(a, { type: 'T', NO2: { type: 'Property', value: 55 } })).toBe(true);
    expect(breaches(a, { type: 'U', NO2: 99 })).toBe(false);
    expect(breaches(a, { type: 'T' })).toBe(false);
    expect(breaches({ type: 'T', attr: 'status', op: '==', value: 'full' }, { type: 'T', status: 'full' })).toBe(true);
    expect(breaches({ type: 'T', attr: 'on', op: '!=', value: 'true' }, { type: 'T', on: false })).toBe(true);
  });
  it('summarises frame times', () => {
    expect(frameStats([16, 17, 16, 100, 15])).toEqual({ count: 5, p50: 16, p95: 100, p99: 100, max: 100 });
    expect(frameStats([]).count).toBe(0);
  });
});

describe('preparePolygon', () => {
  // A concave polygon with a hole (a C around a square hole), a MultiPolygon, a thin sliver.
  const c = { type: 'Polygon', coordinates: [
    [[0, 0], [10, 0], [10, 2], [3, 2], [3, 8], [10, 8], [10, 10], [0, 10], [0, 0]],
    [[1, 4], [2, 4], [2, 6], [1, 6], [1, 4]]] };
  const multi = { type: 'MultiPolygon', coordinates: [c.coordinates, [[[20, 20], [30, 25], [20, 30], [20, 20]]]] };
  const sliver = { type: 'Polygon', coordinates: [[[0, 0], [100, 0.001], [0, 0.002], [0, 0]]] };
  it('agrees with inPolygon on points all over and around each shape', () => {
    let s = 12345;
    const rnd = () => { s = (s * 48271) % 2147483647; return s / 2147483647; };
    for (const [g, [x0, y0, x1, y1]] of [[c, [-2, -2, 12, 12]], [multi, [-2, -2, 32, 32]], [sliver, [-1, -0.001, 101, 0.003]]]) {
      for (const bands of [1, 7, 64]) {
        const p = preparePolygon(g, bands);
        let inside = 0;
        for (let i = 0; i < 3000; i++) {
          const pt = [x0 + rnd() * (x1 - x0), y0 + rnd() * (y1 - y0)];
          expect(inPrepared(pt, p)).toBe(inPolygon(pt, g));
          if (inPolygon(pt, g)) inside++;
        }
        expect(inside).toBeGreaterThan(100);  // the sample does hit the inside
      }
    }
  });
  it('keeps holes and concave parts out and vertices on band edges right', () => {
    const p = preparePolygon(c, 5);
    expect(inPrepared([1.5, 5], p)).toBe(false);   // in the hole
    expect(inPrepared([6, 5], p)).toBe(false);     // in the C's mouth
    expect(inPrepared([6, 1], p)).toBe(true);
    expect(inPrepared([0.5, 5], p)).toBe(true);
    expect(inPrepared([5, 9], preparePolygon(c, 10))).toBe(true);  // lat 9 is a band boundary
    expect(inPrepared([25, 25], preparePolygon(multi))).toBe(true);
    expect(inPrepared([11, 5], p)).toBe(false);    // outside the box
    expect(inPrepared([1, 1], preparePolygon({ type: 'Point', coordinates: [1, 1] }))).toBe(false);
  });
});

describe('contrast', () => {
  it('parses computed colours', () => {
    expect(parseCssColour('rgb(31, 52, 71)')).toEqual([31, 52, 71, 1]);
    expect(parseCssColour('rgba(0, 0, 0, 0)')).toEqual([0, 0, 0, 0]);
    expect(parseCssColour('rgb(0 0 0 / 50%)')).toEqual([0, 0, 0, 0.5]);
    expect(parseCssColour('transparent')).toBeNull();
  });
  it('computes WCAG ratios', () => {
    expect(contrastRatio([0, 0, 0], [255, 255, 255])).toBeCloseTo(21, 5);
    expect(contrastRatio([255, 255, 255], [255, 255, 255])).toBe(1);
    expect(contrastRatio([118, 118, 118], [255, 255, 255])).toBeCloseTo(4.54, 1);  // #767676, the AA limit
    expect(contrastRatio([255, 255, 255], [31, 52, 71])).toBeGreaterThan(12);
  });
  it('lays see-through backgrounds over the ones below', () => {
    expect(effectiveBackground(['rgba(0, 0, 0, 0)', 'rgb(10, 20, 30)'])).toEqual([10, 20, 30]);
    expect(effectiveBackground(['rgba(0, 0, 0, 0.5)', 'rgb(255, 255, 255)'])).toEqual([127.5, 127.5, 127.5]);
    expect(effectiveBackground([])).toEqual([255, 255, 255]);
  });
});
