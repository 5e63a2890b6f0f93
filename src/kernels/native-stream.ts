/**
 * The native kernel's stream entry points (native/stream.c): one input into a running state over an element
 * range, and the state's finish. `runningMean` keeps its per-element state (the sequential sum s and, for
 * float32 outputs, its TwoSum compensation c) in float64 arrays and advances it with these, so the stream
 * operators run the same vectorized per-element math as the batch kernel.
 */
import type { TypedArray } from '../tensor/dtype.js';
import { nativeKernel, nativeReads } from './native.js';

/** The addon's stream exports (native/binding.c). */
interface StreamExports {
  accumulate(
    x: TypedArray,
    s: Float64Array,
    c: Float64Array | null,
    start: number,
    end: number,
    first: boolean,
    spill: Float64Array,
  ): number;
  accumulateFinish(
    x: TypedArray,
    s: Float64Array,
    c: Float64Array | null,
    out: Float64Array | Float32Array,
    k: number,
    start: number,
    end: number,
    first: boolean,
    spill: Float64Array,
    flags: Int32Array,
  ): number;
  finishF64(s: Float64Array, out: Float64Array, k: number, start: number, end: number): number;
  windowPush(
    x: TypedArray,
    old: TypedArray | null,
    s: Float64Array,
    c: Float64Array,
    fs: Float64Array,
    fc: Float64Array,
    peak: Float64Array,
    fpeak: Float64Array,
    inexact: Uint8Array,
    finexact: Uint8Array,
  ): number;
  windowUntrusted(
    s: Float64Array,
    c: Float64Array,
    peak: Float64Array,
    inexact: Uint8Array,
    size: number,
    start: number,
    end: number,
    flags: Int32Array,
  ): number;
  finishF64c(
    s: Float64Array,
    c: Float64Array,
    out: Float64Array,
    k: number,
    start: number,
    end: number,
  ): number;
  finishF32(
    s: Float64Array,
    c: Float64Array,
    out: Float32Array,
    k: number,
    start: number,
    end: number,
    flags: Int32Array,
  ): number;
}

/** Spill list of `accumulate`: [count, (index, old s, old c)…]; room for more than a native block. */
const spill = new Float64Array(1 + 3 * 2048);
/** Flag list of `finishF32`: [count, indices…]. */
const flags = new Int32Array(1 + 2048);

/** This thread's native stream kernel when it loaded and reads `x`'s type, else null. */
export function nativeStream(x: TypedArray): StreamExports | null {
  const k = nativeKernel() as unknown as StreamExports | null;
  return k !== null && nativeReads([x]) ? k : null;
}

/**
 * Adds input `x` into the running state over [0, n): `s = x` (first), else `s += x` (c null) or a TwoSum
 * step into (s, c). For every element whose new state is not finite, calls `onSpill(i, old s, old c)`
 * (the caller's overflow-safe path) after the whole range is done. Unchecked.
 */
export function accumulateNative(
  k: StreamExports,
  x: TypedArray,
  s: Float64Array,
  c: Float64Array | null,
  n: number,
  first: boolean,
  onSpill: (i: number, olds: number, oldc: number) => void,
): void {
  let i = 0;
  while (i < n) {
    i = k.accumulate(x, s, c, i, n, first, spill);
    const m = spill[0];
    for (let t = 0; t < m; t++) onSpill(spill[1 + 3 * t], spill[2 + 3 * t], spill[3 + 3 * t]);
  }
}

/**
 * {@link accumulateNative} then the finish by `count` into `out` (float64 from the plain sum when `c` is
 * null, else {@link finishNativeF32}'s float32 finish), in one native call per block run: what a running
 * mean does per stream item. `onSpill` as accumulateNative's (the caller then finishes those elements
 * again); `exact(i)` gives the float32 elements the kernel flags their value. Unchecked.
 */
export function accumulateFinishNative(
  k: StreamExports,
  x: TypedArray,
  s: Float64Array,
  c: Float64Array | null,
  out: Float64Array | Float32Array,
  count: number,
  first: boolean,
  onSpill: (i: number, olds: number, oldc: number) => void,
  exact: (i: number) => number,
): void {
  let i = 0;
  const n = out.length;
  while (i < n) {
    i = k.accumulateFinish(x, s, c, out, count, i, n, first, spill, flags);
    const m = spill[0];
    for (let t = 0; t < m; t++) onSpill(spill[1 + 3 * t], spill[2 + 3 * t], spill[3 + 3 * t]);
    const f = flags[0];
    for (let t = 1; t <= f; t++) out[flags[t]] = exact(flags[t]);
  }
}

/**
 * out[i] = (c[i] = 0 ? s[i] : s[i] + c[i]) / count over [0, n) (a compensated state's float64 finish).
 * @returns how many results or compensations are not finite. Unchecked.
 */
export function finishNativeF64c(
  k: StreamExports,
  s: Float64Array,
  c: Float64Array,
  out: Float64Array,
  count: number,
): number {
  return k.finishF64c(s, c, out, count, 0, out.length);
}

/** out[i] = s[i] / count over [0, n) (the float64 finish). Unchecked. */
export function finishNativeF64(k: StreamExports, s: Float64Array, out: Float64Array, count: number): void {
  k.finishF64(s, out, count, 0, out.length);
}

/**
 * The compensated float32 finish of (s, c) over [0, n) by `count`; `exact(i)` gives the elements the
 * kernel flags (near a float32 midpoint, subnormal, not finite) their value. Unchecked.
 */
export function finishNativeF32(
  k: StreamExports,
  s: Float64Array,
  c: Float64Array,
  out: Float32Array,
  count: number,
  exact: (i: number) => number,
): void {
  let i = 0;
  const n = out.length;
  while (i < n) {
    i = k.finishF32(s, c, out, count, i, n, flags);
    const m = flags[0];
    for (let t = 1; t <= m; t++) out[flags[t]] = exact(flags[t]);
  }
}

/** The running and fresh sums of a plain sliding window and their trust bookkeeping (window-accumulator.ts). */
export interface WindowState {
  readonly s: Float64Array;
  readonly c: Float64Array;
  readonly fs: Float64Array;
  readonly fc: Float64Array;
  readonly peak: Float64Array;
  readonly freshPeak: Float64Array;
  readonly inexact: Uint8Array;
  readonly freshInexact: Uint8Array;
}

/**
 * One push of a plain sliding window (native/window.c): the TwoSum steps of `x` into the running and fresh
 * sums and of −`old` (the input leaving, or null) out of the running sums, then the peak and inexact marks
 * of both. Unchecked.
 */
export function windowPushNative(
  k: StreamExports,
  x: TypedArray,
  old: TypedArray | null,
  w: WindowState,
): void {
  k.windowPush(x, old, w.s, w.c, w.fs, w.fc, w.peak, w.freshPeak, w.inexact, w.freshInexact);
}

/**
 * The elements of a window of `size` whose running sum the trust bound does not certify (native/window.c),
 * in increasing order. Unchecked.
 */
export function windowUntrustedNative(k: StreamExports, w: WindowState, size: number): number[] {
  const found: number[] = [];
  const n = w.s.length;
  let i = 0;
  while (i < n) {
    i = k.windowUntrusted(w.s, w.c, w.peak, w.inexact, size, i, n, flags);
    for (let t = 1; t <= flags[0]; t++) found.push(flags[t]);
  }
  return found;
}
