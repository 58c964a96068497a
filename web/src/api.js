// The NGSI-LD API as the dashboard calls it (fetch only, no DOM): JSON in and out, the tenant
// as a header, whole queries by pages.

export const API = '/ngsi-ld/v1';
export const failures = [];  // failed calls, for the end-to-end tests (window.civitas.failures)

export async function call(path, { tenant = '', accept = 'application/json', ...init } = {}) {
  const headers = { Accept: accept, ...(init.headers || {}) };
  if (tenant) headers['NGSILD-Tenant'] = tenant;
  const res = await fetch(API + path, { ...init, headers }).catch((err) => { failures.push(`${path}: ${err}`); throw err; });
  if (!res.ok) { failures.push(`${path}: ${res.status}`); throw new Error(`${res.status} ${path}`); }
  return { res, json: res.status === 204 ? null : await res.json() };
}
export const api = async (path, options) => (await call(path, options)).json;

// All entities of a query (at most 100,000, keyValues), by pages of 1000 (the server's largest):
// the first with its count, then the others PARALLEL_PAGES at a time, each request leaving as
// soon as one is answered (a browser keeps six connections to a server). onFirstPage(page) runs
// when the first page is in, while the others load.
const PAGE = 1000, MAX_ENTITIES = 100000, PARALLEL_PAGES = 6;
export async function queryAll(params, tenant = '', { onFirstPage } = {}) {
  const url = (offset, extra = {}) => `/entities?${new URLSearchParams({ ...params, options: 'keyValues', limit: String(PAGE), offset: String(offset), ...extra })}`;
  const first = await call(url(0, { count: 'true' }), { tenant });
  onFirstPage?.(first.json);
  if (first.json.length < PAGE) return first.json;
  const count = first.res.headers.get('NGSILD-Results-Count');
  const pages = [first.json];
  if (count === null) {  // a server without counts: one page after the other
    for (let offset = PAGE; offset < MAX_ENTITIES; offset += PAGE) {
      pages.push(await api(url(offset), { tenant }));
      if (pages.at(-1).length < PAGE) break;
    }
    return pages.flat();
  }
  const total = Math.min(MAX_ENTITIES, Number(count));
  let next = PAGE;
  const worker = async () => {
    while (next < total) {
      const offset = next;
      next += PAGE;
      pages[offset / PAGE] = await api(url(offset), { tenant });
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_PAGES }, worker));
  return pages.flat();
}

// The entities of a query and the units of their attributes ({attribute: unitCode}, read from
// the normalized form of the first one, fetched while the other pages load).
export async function entitiesWithUnits(params, tenant = '') {
  let units = Promise.resolve({});
  const list = await queryAll(params, tenant, {
    onFirstPage: (page) => {
      if (!page.length) return;
      units = api(`/entities/${encodeURIComponent(page[0].id)}`, { tenant }).then((e) => {
        const out = {};
        for (const [k, v] of Object.entries(e)) if (v?.unitCode) out[k] = v.unitCode;
        return out;
      }, () => ({}));
    },
  });
  return { list, units: await units };
}
