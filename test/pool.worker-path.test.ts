import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workerPath } from '../src/pool/worker-path.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('workerPath', () => {
  it('maps the source module (under vitest) to the compiled dist/workers file', () => {
    const path = workerPath('fuse');
    expect(path).toBe(`${root}dist/workers/fuse.js`);
    expect(existsSync(path)).toBe(true);
  });

  it('maps the compiled module to its sibling dist/workers file, independent of the cwd', async () => {
    const compiled = (await import(
      `${root}dist/src/pool/worker-path.js`
    )) as typeof import('../src/pool/worker-path.js');
    const cwd = process.cwd();
    try {
      process.chdir('/');
      expect(compiled.workerPath('fuse')).toBe(`${root}dist/workers/fuse.js`);
    } finally {
      process.chdir(cwd);
    }
  });

  it('rejects names that are not plain file names, and missing workers', () => {
    expect(() => workerPath('../etc/passwd')).toThrow(/worker file name/);
    expect(() => workerPath('')).toThrow(/worker file name/);
    expect(() => workerPath('no-such-worker')).toThrow(/npm run build/);
  });
});
