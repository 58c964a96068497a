// Leaflet as the global L, for plug-ins written as UMD scripts (leaflet.markercluster); main.js
// imports this before them.
import L from 'leaflet';

window.L = L;
export default L;
