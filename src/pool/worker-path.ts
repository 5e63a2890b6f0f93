/** Resolves the compiled worker entry points from this module's own URL (never from the cwd). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OptionError } from '../errors.js';

/**
 * Absolute path of the compiled worker entry `dist/workers/<name>.js` (or `dist/workers/<name>` when `name`
 * ends in `.js`, `.cjs` or `.mjs`).
 *
 * Compiled, this module is `dist/src/pool/worker-path.js` and the worker is `../../workers/<name>.js` beside
 * it. Run from source (`src/pool/worker-path.ts` under vitest) it maps to `../../dist/workers/<name>.js`,
 * because Node 20 cannot start `.ts` workers: build first (`npm test` does).
 *
 * @param name - Base name of a file in `workers/`, e.g. `'fuse'`.
 * @throws {OptionError} when `name` is not a plain file name (letters, digits, `-`, `_`, `.`).
 * @throws {Error} when the compiled file does not exist (message says to run `npm run build`).
 */
export function workerPath(name: string): string {
  if (typeof name !== 'string' || !/^[\w][\w.-]*$/.test(name)) {
    throw new OptionError(
      `Expected \`name\` to be a worker file name such as 'fuse', got ${JSON.stringify(name)}`,
    );
  }
  const fromSource = import.meta.url.endsWith('.ts');
  const file = /\.[cm]?js$/.test(name) ? name : `${name}.js`;
  const url = new URL(fromSource ? `../../dist/workers/${file}` : `../../workers/${file}`, import.meta.url);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new Error(
      `Worker entry ${path} does not exist: run \`npm run build\` to compile workers/${file.replace(/js$/, 'ts')}`,
    );
  }
  return path;
}
