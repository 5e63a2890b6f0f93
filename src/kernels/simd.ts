/**
 * Fast path of the plain (unweighted, NaN-propagating) mean: WebAssembly SIMD over cache-sized blocks.
 *
 * For each block of {@link BLOCK} elements the inputs are copied, one after another, into a staging area of
 * the kernel's memory (the copy stays in L2 cache) and added into a float64 accumulator, so each input byte
 * is read from main memory once and the output written once. float32 outputs use compensated (TwoSum)
 * accumulation and are rounded exactly by the scalar finisher; float64 outputs use a plain sequential sum.
 * Elements whose result is not finite are recomputed by the overflow-safe scalar path.
 */
import type { FloatArray, TypedArray } from '../tensor/dtype.js';
import { roundQuotientToFloat32 } from './exact.js';
import type { MeanKernelParams } from './params.js';
import { meanElementSafe } from './scalar.js';
import { type KernelExports, kernel } from './wasm/instance.js';

/** Elements per block: 3 float64 arrays of this length (96 KiB) stay in L2 cache. */
export const BLOCK = 4096;
const ACC = 0;
const CMP = BLOCK * 8;
const STAGE = 2 * BLOCK * 8;
const BYTES = 3 * BLOCK * 8;

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
    const even = n + (n & 1);
    for (let j = 0; j < count; j++) {
      const x = inputs[j];
      const slice = x.subarray(b, b + n);
      const isF32 = x instanceof Float32Array;
      if (j === 0) {
        if (isF32) {
          h32.set(slice, STAGE / 4);
          k.promote_f32(ACC, STAGE, even);
        } else {
          h64.set(slice, ACC / 8);
        }
        if (compensated) h64.fill(0, CMP / 8, CMP / 8 + even);
        continue;
      }
      if (isF32) h32.set(slice, STAGE / 4);
      else h64.set(slice, STAGE / 8);
      if (compensated) {
        if (isF32) k.add2_f32(ACC, CMP, STAGE, even);
        else k.add2_f64(ACC, CMP, STAGE, even);
      } else if (isF32) k.add_f32(ACC, STAGE, even);
      else k.add_f64(ACC, STAGE, even);
    }
    if (compensated) {
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
    } else {
      const bad = k.div_f64(ACC, even, count);
      out.set(h64.subarray(ACC / 8, ACC / 8 + n), b);
      if (bad !== 0) {
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(out[b + i])) out[b + i] = meanElementSafe(inputs, b + i, params, false);
        }
      }
    }
  }
}
