import { defineConfig } from 'vite';

// The dashboard is static files: the local server (cmlcm serve) serves
// web/dist, production puts it on S3 behind CloudFront. Routing is
// hash-based, so no server rewrite rules are needed.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` proxies the API to a running `cmlcm serve`.
    proxy: {
      '/api': { target: process.env.CMLCM_URL ?? 'http://127.0.0.1:8080', ws: true, changeOrigin: false },
    },
  },
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
  },
});
