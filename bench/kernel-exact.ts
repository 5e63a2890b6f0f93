/**
 * The exact mode's share of `bench:kernel` (issue #11): `meanFusion(…, { exact: true })` against the
 * default mode on the same ordinary random arrays (uniform in [0, 1), full 53-bit significands), timed in
 * alternation in this one run so both see the same machine, as the ratio exact / default (target ≤ 2 at
 * k = 8); and the worst case, data where every element needs the exact accumulator (terms of 1e300, tiny
 * values, −1e300), as µs per element at two sizes, to show the time grows linearly with n.
 */
import { meanFusion, type Tensor, tensor } from '../src/index.js';
import { median } from './util.js';

/** Median seconds of `a` and `b`, run alternately `runs` times after one warm-up each. */
function sideBySide(a: () => unknown, b: () => unknown, runs: number): [number, number] {
  const ta: number[] = [];
  const tb: number[] = [];
  a();
  b();
  for (let r = 0; r < runs; r++) {
    let t0 = process.hrtime.bigint();
    a();
    ta.push(Number(process.hrtime.bigint() - t0) / 1e9);
    t0 = process.hrtime.bigint();
    b();
    tb.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return [median(ta), median(tb)];
}

function randomInputs(dtype: 'float64' | 'float32', k: number, size: number): Tensor[] {
  const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
  return Array.from({ length: k }, () => {
    const a = new Ctor(size * size);
    for (let i = 0; i < a.length; i++) a[i] = Math.random();
    return tensor(a, [size, size]);
  });
}

/** Rows of the exact mode table: dtype, k, default GB/s, exact GB/s, exact / default time. */
export function exactRows(size: number, runs: number): string[][] {
  const rows: string[][] = [];
  for (const dtype of ['float64', 'float32'] as const) {
    for (const k of [2, 8, 32]) {
      const inputs = randomInputs(dtype, k, size);
      const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
      const out = tensor(new Ctor(size * size), [size, size]);
      const bytes = (k + 1) * size * size * Ctor.BYTES_PER_ELEMENT;
      const [plain, exact] = sideBySide(
        () => meanFusion(inputs, { out }),
        () => meanFusion(inputs, { out, exact: true }),
        runs,
      );
      rows.push([
        dtype,
        String(k),
        (bytes / plain / 1e9).toFixed(2),
        (bytes / exact / 1e9).toFixed(2),
        (exact / plain).toFixed(2),
      ]);
    }
  }
  return rows;
}

/** Worst-case rows: n, µs per element with every element on the exact accumulator (k = 8, float64). */
export function worstCaseRows(runs: number): string[][] {
  const rows: string[][] = [];
  for (const n of [1 << 12, 1 << 14]) {
    const k = 8;
    const inputs = Array.from({ length: k }, (_, j) => {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        a[i] = j === 0 ? 1e300 : j === k - 1 ? -1e300 : (i + j) * 2 ** -1000 + Math.random();
      }
      return tensor(a);
    });
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = process.hrtime.bigint();
      const m = meanFusion(inputs, { exact: true });
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (m.data.length !== n) throw new Error('unreachable');
    }
    rows.push([String(n), ((median(times) / n) * 1e6).toFixed(2)]);
  }
  return rows;
}
