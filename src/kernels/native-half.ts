/**
 * The native half-precision kernel (native/half.c): the plain mean of float16/bfloat16 (or mixed) inputs,
 * decoded, averaged and rounded in C with the bits of the JavaScript reference (half-range.ts), which
 * takes over wherever the C kernel declines (weights, NaN omission, an element needing the exact slow
 * paths) or is not loaded (`MEAN_FUSION_KERNEL=wasm`, no addon).
 *
 * A leaf for the workers: imports only the kernel loader and types.
 */
import type { TypedArray } from '../tensor/dtype.js';
import type { HalfDType } from '../tensor/half.js';
import { NATIVE_DTYPE_CODES, NATIVE_INPUTS, nativeKernel } from './native.js';
import type { HalfKernelDTypes } from './params.js';

/** The addon's half exports (native/binding.c `meanHalf`, `meanFilesHalf`). */
export interface NativeHalfExports {
  meanHalf(
    inputs: readonly TypedArray[],
    dtypes: readonly number[],
    out: Float64Array | Float32Array | Uint16Array,
    outDtype: number,
    start: number,
    end: number,
  ): number;
  meanFilesHalf(
    fds: readonly number[],
    offsets: readonly number[],
    dtypes: readonly number[],
    out: Float64Array | Float32Array | Uint16Array,
    outDtype: number,
    count: number,
  ): number;
}

/** Dtype codes of native/half.h beyond the float kernels' (`NATIVE_DTYPE_CODES`). */
export const HALF_DTYPE_CODES: Readonly<Record<HalfDType, number>> = { float16: 8, bfloat16: 9 };

/** The code of `dtype` for the half kernels (float and integer dtypes the addon reads, and half ones). */
export function halfKernelCode(dtype: string): number | undefined {
  return dtype === 'float16' || dtype === 'bfloat16' ? HALF_DTYPE_CODES[dtype] : NATIVE_DTYPE_CODES[dtype];
}

/** This thread's native half kernel, or null (no addon, `MEAN_FUSION_KERNEL=wasm`, an older build). */
export function nativeHalfKernel(): NativeHalfExports | null {
  const k = nativeKernel() as unknown as Partial<NativeHalfExports> | null;
  return k !== null && typeof k.meanHalf === 'function' ? (k as NativeHalfExports) : null;
}

/**
 * The plain mean of `[start, end)` with the native half kernel, into `out` (a Uint16Array of `half.out`
 * bits, or a Float32Array/Float64Array). Returns false, with `out` to be overwritten, when the kernel is
 * not loaded, cannot read an input, or leaves the range to the reference (then nothing written counts).
 */
export function meanHalfNative(
  inputs: readonly TypedArray[],
  out: Float64Array | Float32Array | Uint16Array,
  start: number,
  end: number,
  half: HalfKernelDTypes,
): boolean {
  const k = nativeHalfKernel();
  if (k === null) return false;
  const codes: number[] = [];
  for (let j = 0; j < inputs.length; j++) {
    if (!NATIVE_INPUTS.has(inputs[j].constructor)) return false;
    const h = half.inputs[j];
    codes.push(h === null ? 0 : HALF_DTYPE_CODES[h]);
  }
  const outCode =
    half.out !== null
      ? HALF_DTYPE_CODES[half.out]
      : out instanceof Float64Array
        ? 0
        : out instanceof Float32Array
          ? 1
          : -1;
  if (outCode < 0) return false;
  return k.meanHalf(inputs, codes, out, outCode, start, end) === 0;
}
