// The execution thread's code as one plain JavaScript module, built from the TypeScript sources with esbuild (which tsx
// runs on): a worker thread does not inherit tsx's loader, and registering it there again cost ~4 s and ~100 MB per
// start (a loader thread of its own and every module transformed again). The build takes ~0.1 s.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, stop } from 'esbuild';

const ENTRY = fileURLToPath(new URL('./execution-thread.ts', import.meta.url));
/** Inside the project, so the bundle's package imports resolve from its node_modules; data/ is not in git. */
const CACHE_DIR = fileURLToPath(new URL('../../data/.cache/', import.meta.url));

let built: Promise<URL> | undefined;

/** The bundle's file URL; built once per process, named by its content so concurrent daemons share it safely. */
export function executionThreadModule(): Promise<URL> {
  built ??= (async () => {
    const result = await build({
      entryPoints: [ENTRY], bundle: true, platform: 'node', format: 'esm', target: 'node20',
      // Packages stay imports (better-sqlite3 is native; one copy of each on disk); only our sources are bundled.
      packages: 'external', write: false, logLevel: 'silent', legalComments: 'none',
    });
    // esbuild keeps its service process alive for the next build: there is none, so it goes (~10 MB less idle).
    await stop();
    const code = result.outputFiles[0]?.contents;
    if (!code) throw new Error('esbuild produced no output for the execution thread');
    const file = `${CACHE_DIR}execution-thread-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
    if (!existsSync(file)) {
      mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
      // Written whole, then renamed: a daemon starting alongside never imports half a file.
      const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
      writeFileSync(partial, code, { mode: 0o600 });
      renameSync(partial, file);
    }
    return pathToFileURL(file);
  })();
  built.catch(() => { built = undefined; });
  return built;
}
