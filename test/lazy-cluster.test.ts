// The cluster's libraries (BullMQ, ioredis) load only when a cluster job or worker runs: importing the
// package, or a local CLI job, leaves them out (start-up time, and memory under --memory-limit). A cluster
// job against an unreachable Redis loads them, which shows that the check sees them.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../src/io/npy/write.js';
import { tensor } from '../src/tensor/tensor.js';

const INDEX = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const REPORT = fileURLToPath(new URL('./fixtures/process/report-modules.mjs', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazy-cluster-'));
  await writeNpy(join(dir, 'a.npy'), tensor(new Float64Array([1, 2, 3, 4]), [2, 2]));
  await writeNpy(join(dir, 'b.npy'), tensor(new Float64Array([3, 4, 5, 6]), [2, 2]));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs node with the module reporter preloaded; returns the exit code and what it loaded. */
function node(...args: string[]): Promise<{ code: number; stderr: string; loaded: Record<string, boolean> }> {
  const file = join(dir, `modules-${Math.random().toString(16).slice(2)}`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', REPORT, ...args],
      { cwd: dir, env: { ...process.env, MEAN_FUSION_MODULES_FILE: file } },
      async (error, _stdout, stderr) => {
        resolve({
          code: error === null ? 0 : ((error as { code?: number }).code ?? -1),
          stderr,
          loaded: JSON.parse(await readFile(file, 'utf8').catch(() => '{}')),
        });
      },
    );
  });
}

describe('BullMQ and ioredis load only for cluster work', () => {
  it('importing the package loads neither', async () => {
    const r = await node('--input-type=module', '-e', `await import(${JSON.stringify(INDEX)});`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.loaded).toEqual({ ioredis: false, bullmq: false });
  });

  it('a local CLI job loads neither', async () => {
    const r = await node(BIN, 'a.npy', 'b.npy', '-o', 'out.npy', '-t', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.loaded).toEqual({ ioredis: false, bullmq: false });
  });

  it('a cluster job loads both (and fails on an unreachable Redis, naming it)', async () => {
    const r = await node(
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(INDEX)});
       await m.fuseFilesClusterAsync(['a.npy', 'b.npy'], 'never.npy', { connection: 'redis://127.0.0.1:1', connectionTimeout: 300 })
         .then(() => process.exit(3), (e) => { console.error(e.name); process.exit(e.name === 'RedisUnavailableError' ? 0 : 4); });`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.loaded).toEqual({ ioredis: true, bullmq: true });
  });
});
