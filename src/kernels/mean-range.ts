/**
 * The mean-fusion kernel over an element range: picks the native kernel (any memory, in place) or else the
 * WebAssembly SIMD kernel for the plain mean, and the scalar kernel for weighted or NaN-omitting means.
 * Pure, synchronous, unchecked (callers validate); used by `meanFusion`, the pool's workers and the
 * streaming operators alike, so all give identical bits.
 */
import type { AnyTypedArray, FloatArray, FloatDataArray, TypedArray } from '../tensor/dtype.js';
import { meanRangeExact } from './exact-range.js';
import { meanRangeHalf } from './half-range.js';
import { hasBigIntInput, meanRangeInt64 } from './int64.js';
import { meanRangeNative, nativeKernel, nativeReads } from './native.js';
import type { MeanKernelParams } from './params.js';
import { meanRangeScalar } from './scalar.js';
import { meanRangeSimd } from './simd.js';

/** Below this many elements the scalar kernel is faster than a SIMD call (staging, or a Node-API call). */
export const SIMD_MIN_ELEMENTS = 64;
/** The SIMD float32 finish relies on exact products q·k, true for k below 2^28. */
export const SIMD_MAX_INPUTS = 2 ** 28;

/**
 * Writes `out[i] = mean(inputs[0][i], …, inputs[k-1][i])` for `start ≤ i < end`.
 *
 * @param inputs - k ≥ 1 typed arrays, each at least `end` long (flat, row-major); int64/uint64 inputs
 *   (BigInt arrays) run on the exact kernel of src/kernels/int64.ts.
 * @param out - Float32Array or Float64Array; its type selects the output dtype and the accumulation
 *   (compensated for float32, so the result is the float32 nearest the exact mean). A Uint16Array when
 *   `params.half.out` says the output is float16/bfloat16.
 * @param start - First element index (inclusive).
 * @param end - Last element index (exclusive).
 */
export function meanRange(
  inputs: readonly AnyTypedArray[],
  out: FloatDataArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  // float16/bfloat16 inputs or output: decoded to float32 blocks, run below, rounded exactly (half-range.ts).
  if (params.half !== undefined) {
    return meanRangeHalf(inputs as readonly TypedArray[], out, start, end, params, meanRange);
  }
  // The exact mode: certified fast path and exact accumulator for every dtype (src/kernels/exact-range.ts).
  if (params.exact === true) return meanRangeExact(inputs, out as FloatArray, start, end, params);
  // int64/uint64 inputs: the exact BigInt-aware kernel (src/kernels/int64.ts).
  if (hasBigIntInput(inputs)) return meanRangeInt64(inputs, out as FloatArray, start, end, params);
  meanRangeNumbers(inputs as readonly TypedArray[], out as FloatArray, start, end, params);
}

function meanRangeNumbers(
  inputs: readonly TypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  // Tiny ranges (e.g. one element of a huge stack) skip the SIMD kernels; every path gives identical bits.
  const simd =
    params.weights === null &&
    !params.nanOmit &&
    end - start >= SIMD_MIN_ELEMENTS &&
    inputs.length < SIMD_MAX_INPUTS;
  if (simd) {
    const native = nativeKernel();
    if (native !== null && nativeReads(inputs)) {
      meanRangeNative(native, inputs, out, start, end, params);
      return;
    }
  }
  // meanRangeSimd declines (writing nothing) when all of the heap's scratch regions are in use.
  if (!(simd && meanRangeSimd(inputs, out, start, end, params))) {
    meanRangeScalar(inputs, out, start, end, params);
  }
}
