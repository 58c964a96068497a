// The first load's requests. main.js imports this module before anything else, so they leave as
// soon as the bundle is parsed, while Leaflet and the map are still being set up (a few hundred
// ms on a busy 2-core machine). Each promise settles to {value} or {error}: a rejection waiting
// for main.js would show as an uncaught error in the console.
import { api, entitiesWithUnits, queryAll } from './api.js';

const url = new URLSearchParams(location.search);  // ?tenant=&type= (links to a view)
const settle = (p) => p.then((value) => ({ value }), (error) => ({ error }));
export const tenant = url.get('tenant') ?? (localStorage.getItem('civitas.tenant') || '');
export const type = url.get('type') || '';
export const early = {
  types: settle(api('/types', { tenant })),
  districts: settle(queryAll({ type: 'AdministrativeArea' }, tenant)),
  // Without a type in the address the first one is known only from /types.
  entities: type ? settle(entitiesWithUnits({ type }, tenant)) : null,
};
