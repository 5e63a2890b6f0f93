/**
 * Input data of the peers benchmark: seeded, reproducible, allocated in `SharedArrayBuffer`s (so the pool
 * shares rather than copies them) and written to raw files for the numpy side, so every tool sees the same
 * bits.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { FloatData } from './peers-exact.js';

/** The kinds of data the benchmark fuses. */
export type DataKind = 'uniform' | 'offset';

/** What each data kind holds, as shown in the results page. */
export const DATA_DESCRIPTIONS: Readonly<Record<DataKind, string>> = {
  uniform: 'i.i.d. uniform in [0, 1)',
  offset: '1000 + uniform [0, 1): a large common offset with small variation (e.g. pressures in hPa)',
};

/**
 * Fills a new shared array of `n` values of `dtype` from a seeded generator (mulberry32, 32-bit state).
 * float32 values carry 24 random bits, float64 values 53, so no value is a coarse grid point.
 *
 * @param seed - Any 32-bit integer; the same seed gives the same bits on every machine.
 * @param n - Number of elements (≥ 0).
 */
export function generate(dtype: 'float32' | 'float64', n: number, kind: DataKind, seed: number): FloatData {
  const bytes = dtype === 'float32' ? 4 : 8;
  const sab = new SharedArrayBuffer(n * bytes);
  const offset = kind === 'offset' ? 1000 : 0;
  let state = seed | 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  if (dtype === 'float32') {
    const a = new Float32Array(sab);
    for (let i = 0; i < n; i++) a[i] = offset + (next() >>> 8) * 2 ** -24;
    return a;
  }
  const a = new Float64Array(sab);
  for (let i = 0; i < n; i++) a[i] = offset + ((next() >>> 5) * 2 ** 26 + (next() >>> 6)) * 2 ** -53;
  return a;
}

/** Writes the raw little-endian bytes of `data` to `path` (read by numpy with `np.fromfile`). */
export function writeRaw(path: string, data: FloatData): void {
  writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** Reads a raw float file written by numpy (`ndarray.tofile`) as `dtype`. */
export function readRaw(path: string, dtype: 'float32' | 'float64'): FloatData {
  const bytes = readFileSync(path);
  const size = dtype === 'float32' ? 4 : 8;
  if (bytes.length % size !== 0)
    throw new Error(`${path}: ${bytes.length} bytes is not a whole number of ${dtype}`);
  // Copy into an aligned buffer of our own: a Buffer from the pool may start at an unaligned offset.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer);
}
