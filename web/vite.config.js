import { defineConfig } from 'vite';

// The dashboard is served by Civitas itself at /; `npm run dev` proxies the API to a local
// Civitas on port 1026.
export default defineConfig({
  build: { target: 'es2022', outDir: 'dist', chunkSizeWarningLimit: 1000 },
  server: { proxy: { '/ngsi-ld': 'http://127.0.0.1:1026' } },
});
