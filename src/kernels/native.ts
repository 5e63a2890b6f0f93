/**
 * The native kernel (native/, a Node-API addon in C), loaded once per thread, and its range wrapper.
 *
 * The addon reads any memory a typed array views — ordinary `ArrayBuffer`s, `SharedArrayBuffer`s, the
 * kernel heap — in place, so no input is staged. It is optional, as bufferutil's is: `npm ci` builds it
 * with node-gyp (or loads a prebuild from `prebuilds/`, via node-gyp-build); when it cannot load, the
 * WebAssembly kernel runs and gives the same bits. `MEAN_FUSION_KERNEL=wasm` forces the WebAssembly kernel;
 * `MEAN_FUSION_KERNEL=native` makes a failed load an error instead of a fallback (CI uses it).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FloatArray, TypedArray } from '../tensor/dtype.js';
import type { MeanKernelParams } from './params.js';
import { meanElementSafe } from './scalar.js';

/** The addon's exports (native/binding.c). */
interface NativeExports {
  meanF64(inputs: readonly TypedArray[], out: Float64Array, start: number, end: number): number;
  meanF32(
    inputs: readonly TypedArray[],
    out: Float32Array,
    start: number,
    end: number,
    flags: Int32Array,
  ): number;
}

/** The addon's file kernel (native/files.c), for the file job's worker. */
export interface NativeFileExports {
  meanFiles(
    fds: readonly number[],
    offsets: readonly number[],
    dtypes: readonly number[],
    out: Float64Array | Float32Array,
    count: number,
    flags: Int32Array,
    exact?: boolean,
  ): number;
}

/** The addon's element-type codes (native/kernel.h `mf_dtype`), for dtypes it reads. */
export const NATIVE_DTYPE_CODES: Readonly<Partial<Record<string, number>>> = {
  float64: 0,
  float32: 1,
  int8: 2,
  uint8: 3,
  int16: 4,
  uint16: 5,
  int32: 6,
  uint32: 7,
};

/** Which kernel runs the plain mean, and why. */
export interface KernelInfo {
  /** `'native'`: the C addon; `'wasm'`: the WebAssembly SIMD kernel. */
  readonly kernel: 'native' | 'wasm';
  /** Why the WebAssembly kernel runs (`MEAN_FUSION_KERNEL=wasm`, or the load error), when it does. */
  readonly reason?: string;
}

let addon: NativeExports | null | undefined;
let info: KernelInfo = { kernel: 'wasm' };

/** The package's root: the nearest folder above this module that holds binding.gyp (src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('binding.gyp not found above the kernel module');
}

function load(): NativeExports | null {
  const choice = process.env.MEAN_FUSION_KERNEL;
  if (choice === 'wasm') {
    info = { kernel: 'wasm', reason: 'MEAN_FUSION_KERNEL=wasm' };
    return null;
  }
  try {
    const require = createRequire(import.meta.url);
    const build = require('node-gyp-build') as (root: string) => NativeExports;
    const exports = build(packageRoot());
    info = { kernel: 'native' };
    return exports;
  } catch (error) {
    if (choice === 'native') {
      throw new Error(`MEAN_FUSION_KERNEL=native but the native kernel did not load: ${String(error)}`);
    }
    info = { kernel: 'wasm', reason: `native kernel not loaded: ${(error as Error).message.split('\n')[0]}` };
    return null;
  }
}

/** This thread's native kernel, or null when the WebAssembly kernel runs instead. */
export function nativeKernel(): NativeExports | null {
  if (addon === undefined) addon = load();
  return addon;
}

/**
 * Which kernel this thread runs for the plain mean: `{ kernel: 'native' }`, or `{ kernel: 'wasm', reason }`.
 * Both give bitwise identical results; the native one reads ordinary arrays in place and is faster.
 *
 * @throws {Error} when `MEAN_FUSION_KERNEL=native` is set and the addon cannot load.
 */
export function kernelInfo(): KernelInfo {
  nativeKernel();
  return info;
}

/** Typed arrays the addon reads (not BigInt64Array/BigUint64Array). */
export const NATIVE_INPUTS: ReadonlySet<unknown> = new Set<unknown>([
  Float64Array,
  Float32Array,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
]);

/** True when the native kernel can take these inputs. */
export function nativeReads(inputs: readonly TypedArray[]): boolean {
  for (const x of inputs) if (!NATIVE_INPUTS.has(x.constructor)) return false;
  return true;
}

/** Flag list of the float32 kernel: [count, indices…]; one per thread, capacity above a native block. */
const flags = new Int32Array(1 + 16384);

/**
 * Writes the plain mean of elements [start, end) of `inputs` into `out` with the native kernel. Unchecked.
 *
 * Float64: the addon's sequential sum divided once; elements whose quotient is not finite are redone on the
 * overflow-safe scalar path. Float32: the addon certifies the rounding of most elements and finishes the
 * rest with the compensated (TwoSum) sum, flagging the few near a float32 midpoint, subnormal or not finite
 * for the exact scalar finisher — the same bits as the WebAssembly and scalar kernels.
 */
export function meanRangeNative(
  k: NativeExports,
  inputs: readonly TypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  if (out instanceof Float64Array) {
    if (k.meanF64(inputs, out, start, end) === 0) return;
    for (let i = start; i < end; i++) {
      if (!Number.isFinite(out[i])) out[i] = meanElementSafe(inputs, i, params, false);
    }
    return;
  }
  let i = start;
  while (i < end) {
    i = k.meanF32(inputs, out, i, end, flags);
    const n = flags[0];
    for (let f = 1; f <= n; f++) out[flags[f]] = meanElementSafe(inputs, flags[f], params, true);
  }
}
