/**
 * Fast path of the plain (unweighted, NaN-propagating) mean: WebAssembly SIMD over cache-sized blocks.
 *
 * For each block of {@link BLOCK} elements, up to {@link SLOTS} inputs at a time are copied into staging
 * slots of the kernel's memory (copies that stay in L2 cache) and added, in input order, into a float64
 * accumulator held in registers across the slots. Each input byte is thus read from main memory once and the
 * output written once. float32 outputs use compensated (TwoSum) accumulation and a SIMD finish that flags
 * the rare lanes (near a float32 rounding midpoint, subnormal, or not finite) for the exact scalar finisher;
 * float64 outputs use a plain sequential sum. Elements whose result is not finite are recomputed by the
 * overflow-safe scalar path. Every lane does the scalar kernel's IEEE operations, so the bits are the same.
 */
import type { FloatArray, TypedArray } from '../tensor/dtype.js';
import { roundQuotientToFloat32 } from './exact.js';
import type { MeanKernelParams } from './params.js';
import { meanElementSafe } from './scalar.js';
import { type KernelExports, kernel } from './wasm/instance.js';

/** Elements per block. */
export const BLOCK = 4096;
/** Inputs staged per kernel call. */
export const SLOTS = 8;
const STRIDE = BLOCK * 8;
const ACC = 0;
const CMP = STRIDE;
const OUT = 2 * STRIDE;
const SLOT0 = 3 * STRIDE;
const BYTES = SLOT0 + SLOTS * STRIDE;

let heap64: Float64Array | undefined;
let heap32: Float32Array | undefined;

function views(k: KernelExports): [Float64Array, Float32Array] {
  if (heap64 === undefined || heap64.buffer !== k.memory.buffer) {
    const missing = BYTES - k.memory.buffer.byteLength;
    if (missing > 0) k.memory.grow(Math.ceil(missing / 65536));
    heap64 = new Float64Array(k.memory.buffer);
    heap32 = new Float32Array(k.memory.buffer);
  }
  return [heap64, heap32 as Float32Array];
}

/** Copies elements [b, b + n) of `x` into the slot at byte address `at` (float32 kept, others as float64). */
function stage(h64: Float64Array, h32: Float32Array, x: TypedArray, b: number, n: number, at: number): void {
  const slice = x.subarray(b, b + n);
  if (x instanceof Float32Array) h32.set(slice, at / 4);
  else h64.set(slice, at / 8);
}

/** Writes the plain mean of elements [start, end) of `inputs` into `out` (same indices). Unchecked. */
export function meanRangeSimd(
  inputs: readonly TypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  const k = kernel();
  const [h64, h32] = views(k);
  const count = inputs.length;
  const compensated = out instanceof Float32Array;
  for (let b = start; b < end; b += BLOCK) {
    const n = Math.min(BLOCK, end - b);
    const n4 = (n + 3) & ~3;
    const first = inputs[0];
    if (first instanceof Float32Array) {
      stage(h64, h32, first, b, n, SLOT0);
      k.promote_f32(ACC, SLOT0, n4);
    } else {
      stage(h64, h32, first, b, n, ACC);
    }
    if (compensated) h64.fill(0, CMP / 8, CMP / 8 + n4);
    for (let j = 1; j < count; ) {
      // Stage a run of up to SLOTS inputs of one staging type (float32, or anything else as float64).
      const isF32 = inputs[j] instanceof Float32Array;
      let m = 0;
      while (j + m < count && m < SLOTS && inputs[j + m] instanceof Float32Array === isF32) {
        stage(h64, h32, inputs[j + m], b, n, SLOT0 + m * STRIDE);
        m++;
      }
      if (compensated && m === SLOTS) {
        if (isF32) k.add8c_f32(ACC, CMP, SLOT0, n4);
        else k.add8c_f64(ACC, CMP, SLOT0, n4);
      } else if (compensated) {
        if (isF32) k.addm2_f32(ACC, CMP, SLOT0, STRIDE, m, n4);
        else k.addm2_f64(ACC, CMP, SLOT0, STRIDE, m, n4);
      } else if (m === SLOTS) {
        if (isF32) k.add8_f32(ACC, SLOT0, n4);
        else k.add8_f64(ACC, SLOT0, n4);
      } else if (isF32) k.addm_f32(ACC, SLOT0, STRIDE, m, n4);
      else k.addm_f64(ACC, SLOT0, STRIDE, m, n4);
      j += m;
    }
    if (compensated) finishFloat32(k, h64, h32, inputs, out, b, n, n4, params);
    else finishFloat64(k, h64, inputs, out, b, n, n4, params);
  }
}

/*
 * Copies a finished float64 block out of the kernel's memory into an ordinary ArrayBuffer with a plain loop:
 * on Node 20, TypedArray.prototype.set from WebAssembly memory into an ordinary buffer is slower than this
 * loop (32 MiB: 12.5 ms vs 5.2 ms; a whole k = 8, 2048² fusion: 38–41 ms vs 42–54 ms). Into a
 * SharedArrayBuffer set() is the fast one (4.1 ms; in pool workers the loop made a job ~35% slower), so
 * shared outputs keep set(). For float32 blocks set() measured as fast as a loop and is kept.
 */
function copyOut64(out: Float64Array, from: Float64Array, at: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) out[b + i] = from[at + i];
}

function finishFloat64(
  k: KernelExports,
  h64: Float64Array,
  inputs: readonly TypedArray[],
  out: FloatArray,
  b: number,
  n: number,
  n4: number,
  params: MeanKernelParams,
): void {
  const bad = k.div_f64(ACC, n4, inputs.length);
  if (out.buffer instanceof SharedArrayBuffer) out.set(h64.subarray(ACC / 8, ACC / 8 + n), b);
  else copyOut64(out as Float64Array, h64, ACC / 8, b, n);
  if (bad === 0) return;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(out[b + i])) out[b + i] = meanElementSafe(inputs, b + i, params, false);
  }
}

function finishFloat32(
  k: KernelExports,
  h64: Float64Array,
  h32: Float32Array,
  inputs: readonly TypedArray[],
  out: FloatArray,
  b: number,
  n: number,
  n4: number,
  params: MeanKernelParams,
): void {
  const count = inputs.length;
  const flagged = k.fin_f32(ACC, CMP, OUT, n4, count);
  out.set(h32.subarray(OUT / 4, OUT / 4 + n), b);
  if (flagged === 0) return;
  // Some lane is near a midpoint, subnormal or not finite: finish this block exactly, as the scalar kernel does.
  const base = CMP / 8;
  for (let i = 0; i < n; i++) {
    const s = h64[i];
    const c = h64[base + i];
    let r: number;
    if (s - s === 0) {
      const m = (c === 0 ? s : s + c) / count;
      r =
        m - m === 0
          ? roundQuotientToFloat32(m, s, c, count, 0)
          : meanElementSafe(inputs, b + i, params, true);
    } else {
      r = meanElementSafe(inputs, b + i, params, true);
    }
    out[b + i] = r;
  }
}
