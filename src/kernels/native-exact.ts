/**
 * The native kernel's exact mode entry points (native/exact.c, wrapped by native/binding-exact.c): the
 * certified batch mean, and an exact running state's accumulate and finish for the stream operators. Each
 * reports the elements it cannot certify in a flag list; the callers compute those exactly.
 */
import type { FloatArray, TypedArray } from '../tensor/dtype.js';
import { nativeKernel, nativeReads } from './native.js';

/** The addon's exact mode exports. */
export interface ExactExports {
  meanExact(
    inputs: readonly TypedArray[],
    out: FloatArray,
    start: number,
    end: number,
    flags: Int32Array,
  ): number;
  accumulateExact(
    x: TypedArray,
    s: Float64Array,
    c: Float64Array,
    start: number,
    end: number,
    first: boolean,
    flags: Int32Array,
  ): number;
  finishExact(
    s: Float64Array,
    c: Float64Array,
    out: FloatArray,
    d: number,
    start: number,
    end: number,
    flags: Int32Array,
  ): number;
}

/** Flag list: [count, indices…]; one per thread, room for several native blocks. */
const flags = new Int32Array(1 + 8192);

/** This thread's native exact kernel when the addon loaded (and has the exact mode), else null. */
export function nativeExact(): ExactExports | null {
  const k = nativeKernel() as unknown as ExactExports | null;
  return k !== null && typeof k.meanExact === 'function' ? k : null;
}

/** The native exact kernel when it loaded and reads `x`'s type, else null. */
export function nativeExactStream(x: TypedArray): ExactExports | null {
  const k = nativeExact();
  return k !== null && nativeReads([x]) ? k : null;
}

/**
 * The certified plain mean of elements [start, end) into `out`; calls `exact(i)` for every element the
 * kernel left to the exact accumulator (after the block that flagged it). Unchecked.
 */
export function meanExactNative(
  k: ExactExports,
  inputs: readonly TypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  exact: (i: number) => void,
): void {
  let i = start;
  while (i < end) {
    i = k.meanExact(inputs, out, i, end, flags);
    const n = flags[0];
    for (let f = 1; f <= n; f++) exact(flags[f]);
  }
}

/**
 * Input `x` into the exact running state (s, c) over [0, n); calls `exact(i)` for every element whose step
 * was not error-free (its state is left as it was; the caller adds `x[i]` to its exact accumulator).
 */
export function accumulateExactNative(
  k: ExactExports,
  x: TypedArray,
  s: Float64Array,
  c: Float64Array,
  n: number,
  first: boolean,
  exact: (i: number) => void,
): void {
  let i = 0;
  while (i < n) {
    i = k.accumulateExact(x, s, c, i, n, first, flags);
    const m = flags[0];
    for (let f = 1; f <= m; f++) exact(flags[f]);
  }
}

/**
 * The certified finish of states (s, c) over [0, n) with divisor d > 0 into `out`; calls `exact(i)` for the
 * elements it cannot certify.
 */
export function finishExactNative(
  k: ExactExports,
  s: Float64Array,
  c: Float64Array,
  out: FloatArray,
  d: number,
  n: number,
  exact: (i: number) => void,
): void {
  let i = 0;
  while (i < n) {
    i = k.finishExact(s, c, out, d, i, n, flags);
    const m = flags[0];
    for (let f = 1; f <= m; f++) exact(flags[f]);
  }
}
