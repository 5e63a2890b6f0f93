// Issue 14, fault 4: a writer killed with SIGKILL leaves its hidden temporary file behind; the next writer
// of the same target removes the temporaries of dead processes and keeps those of live ones.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { removeStaleTemps } from '../src/io/stale.js';
import { tensor } from '../src/tensor/tensor.js';

const WRITE = new URL('../dist/src/io/npy/write.js', import.meta.url).href;
const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stale-temp-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const temps = async () => (await readdir(dir)).filter((f) => f.endsWith('.tmp')).sort();

/** Starts a process that creates the output's temporary file, reports it, then blocks; SIGKILLs it. */
async function killedWriter(target: string): Promise<string> {
  const script = `
    const { createNpyFile } = await import(${JSON.stringify(WRITE)});
    const w = await createNpyFile(${JSON.stringify(target)}, 'float64', [1024, 1024]);
    process.stdout.write(w.tempPath + '\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tempPath = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      if (text.endsWith('\n')) resolve(text.trim());
    });
    child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  expect(await exited).toBe(null);
  return tempPath;
}

describe('temporary files of hard-killed writers', () => {
  it('a SIGKILLed writer leaves its temporary file; the next CLI run to the target removes it', async () => {
    const target = join(dir, 'out.npy');
    const left = await killedWriter(target);
    expect(await temps()).toEqual([left.slice(dir.length + 1)]);
    // A temporary of a live process (this one) is kept: a concurrent writer is not disturbed.
    const live = join(dir, `.out.npy.${process.pid}-abcd.tmp`);
    await writeFile(live, 'x');
    const input = join(dir, 'in.npy');
    await writeNpy(input, tensor(new Float64Array([1, 2, 3])));
    const code = await new Promise<number | null>((resolve) => {
      spawn(process.execPath, [BIN, input, input, '-o', target], { stdio: 'ignore' }).on('exit', resolve);
    });
    expect(code).toBe(0);
    expect(await temps()).toEqual([`.out.npy.${process.pid}-abcd.tmp`]);
    expect([...(await readNpy(target)).data]).toEqual([1, 2, 3]);
  });

  it('removeStaleTemps touches only temporaries of its target whose process is dead', async () => {
    const dead = await killedWriter(join(dir, 'other.npy'));
    const unrelated = join(dir, '.other.npy.backup.tmp');
    const otherTarget = join(dir, `.third.npy.999999999-ab.tmp`);
    await writeFile(unrelated, 'x');
    await writeFile(otherTarget, 'x');
    expect(await removeStaleTemps(join(dir, 'other.npy'))).toEqual([dead]);
    const left = await temps();
    expect(left).toContain('.other.npy.backup.tmp');
    expect(left).toContain('.third.npy.999999999-ab.tmp');
  });
});
