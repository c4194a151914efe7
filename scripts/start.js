#!/usr/bin/env node
// `npm start` and PM2: runs the daemon from one plain JavaScript module, built from the TypeScript sources with esbuild
// and cached in data/.cache by its content, instead of through tsx's loader. tsx keeps a loader thread of its own (a
// third V8 heap beside the HTTP side's and the execution thread's) and transforms every module at each start: ~50 MB
// of idle RSS (README, Performance). The execution thread's module is built the same way (src/runtime/thread-build.ts).
// Usage: node scripts/start.js [--role all|api|worker|monitor]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import { build, stop } from 'esbuild';

const ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
/** Inside the project, so the bundle's package imports resolve from its node_modules; data/ is not in git. */
const CACHE_DIR = fileURLToPath(new URL('../data/.cache/', import.meta.url));

/**
 * Each source file keeps its own `import.meta.url` in the bundle, so paths it reads relative to itself (main.ts's
 * ../package.json, thread-build.ts's sources) are the same bundled or not.
 */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(esbuild) {
    esbuild.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
  },
};

async function daemonModule() {
  const result = await build({
    entryPoints: [ENTRY], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    // Packages stay imports (better-sqlite3 is native; one copy of each on disk); only our sources are bundled.
    packages: 'external', write: false, logLevel: 'warning', legalComments: 'none', plugins: [ownImportMetaUrl],
  });
  // esbuild keeps its service process alive for the next build: there is none here.
  await stop();
  const code = result.outputFiles[0]?.contents;
  if (!code) throw new Error('esbuild produced no output for the daemon');
  const file = `${CACHE_DIR}daemon-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
  if (!existsSync(file)) {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
    // Written whole, then renamed: a daemon starting alongside never imports half a file.
    const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(partial, code, { mode: 0o600 });
    renameSync(partial, file);
  }
  return pathToFileURL(file).href;
}

const roleAt = process.argv.indexOf('--role');
const role = roleAt === -1 ? 'all' : process.argv[roleAt + 1];
const daemon = await import(await daemonModule());
if (!daemon.ROLES.includes(role)) {
  process.stderr.write(`tradewire: unknown role '${role}' (${daemon.ROLES.join(', ')})\n`);
  process.exit(2);
}
await daemon.runFromCommandLine(role);
