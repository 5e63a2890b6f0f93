// The stream operators give the same bits on the native kernel and on the WebAssembly/JavaScript fallback:
// the same stream is run in two child processes, one per kernel, and every emission is compared bitwise.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const built = existsSync(`${root}dist/src/index.js`) && existsSync(`${root}build/Release`);

/** Runs the streams in a child with the given kernel; returns the emissions' bytes, base64, per case. */
function emissions(kernel: 'native' | 'wasm'): string[] {
  const script = `
    import { from, lastValueFrom, toArray } from 'rxjs';
    import { kernelInfo, runningMean, tensor, windowMean } from './dist/src/index.js';
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const specials = [NaN, Infinity, -Infinity, -0, 1e308, -1e308, 3e38];
    const out = [];
    for (const Ctor of [Float32Array, Float64Array]) {
      for (const op of [() => runningMean(), () => windowMean(5), () => windowMean(3, { emitWhileFilling: true })]) {
        const xs = Array.from({ length: 12 }, () => {
          const x = new Ctor(1500);
          for (let i = 0; i < x.length; i++) {
            const r = rand();
            x[i] = r < 0.005 ? specials[Math.floor(rand() * specials.length)] : (rand() - 0.5) * 2 ** Math.floor(rand() * 40 - 20);
          }
          return tensor(x);
        });
        const ts = await lastValueFrom(from(xs).pipe(op(), toArray()));
        out.push(ts.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')).join(','));
      }
    }
    console.log(JSON.stringify({ kernel: kernelInfo().kernel, out }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, MEAN_FUSION_KERNEL: kernel },
    maxBuffer: 64 * 2 ** 20,
  });
  expect(r.status, r.stderr).toBe(0);
  const parsed = JSON.parse(r.stdout) as { kernel: string; out: string[] };
  expect(parsed.kernel).toBe(kernel);
  return parsed.out;
}

describe.runIf(built)('stream operators: native and fallback kernels agree bitwise', () => {
  it('runningMean and windowMean, float32 and float64, with NaN, ±inf, −0 and overflow', () => {
    const native = emissions('native');
    const wasm = emissions('wasm');
    expect(native).toHaveLength(6);
    for (let i = 0; i < native.length; i++) expect(native[i], `case ${i}`).toBe(wasm[i]);
  });
});
