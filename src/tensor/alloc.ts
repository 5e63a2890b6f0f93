/**
 * Allocation of tensors, optionally backed by a `SharedArrayBuffer` so worker threads can share them, or
 * placed in the kernel heap so the SIMD kernel reads them in place.
 */

import { describe, OptionError, TensorError } from '../errors.js';
import { adoptHeapArray, allocateInHeap, freeHeapArray, heapAddress } from '../kernels/heap/memory.js';
import { assertKnownKeys } from '../option-keys.js';
import {
  type AnyTypedArray,
  assertDType,
  type BigIntArray,
  DTYPE_CTORS,
  type DType,
  type NumberDType,
  type TypedArray,
} from './dtype.js';
import { checkShape, shapeSize } from './shape.js';
import type { AnyTensor, Tensor } from './tensor.js';

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /**
   * Back the tensor with a `SharedArrayBuffer` (shared, not copied, when sent to a worker).
   * @default false
   */
  shared?: boolean;
  /**
   * Place the tensor in the kernel heap: this thread's shared WebAssembly memory, which the SIMD kernel
   * reads and writes in place, with no staging copy, here and in every thread of a {@link FusionPool}
   * created on this thread (its workers attach to it; other threads have heaps of their own). A heap
   * tensor is backed by a `SharedArrayBuffer` like `shared: true`, but that buffer is the whole heap as it
   * was at allocation (use `data.byteOffset`). The range is given back to the heap, not to the operating
   * system, when `data` is garbage-collected on this thread or at {@link disposeTensor}: views made from
   * `data` (`subarray`, `new Float64Array(data.buffer, …)`) and copies of `data` posted to other threads
   * do not keep it alive. Falls back to a plain `SharedArrayBuffer` when the heap cannot grow (wasm32
   * caps it just under 4 GiB) or belongs to another thread (inside a pool worker).
   * @default false
   */
  heap?: boolean;
}

/**
 * Allocates a zero-filled tensor.
 *
 * @param dtype - Element type.
 * @param shape - Dimensions (row-major).
 * @param options - Where the data lives: see {@link AllocateOptions}.
 * @throws {DTypeError} when `dtype` is not a supported dtype name.
 * @throws {TensorError} when a dimension is not a non-negative integer.
 * @throws {OptionError} when `options` is not an object, has an unknown key, or `shared`/`heap` is not a
 *   boolean.
 * @throws {RangeError} when the buffer cannot be allocated.
 */
export function allocate(
  dtype: 'int64' | 'uint64',
  shape: readonly number[],
  options?: AllocateOptions,
): Tensor<BigIntArray>;
export function allocate(dtype: NumberDType, shape: readonly number[], options?: AllocateOptions): Tensor;
export function allocate(dtype: DType, shape: readonly number[], options?: AllocateOptions): AnyTensor;
export function allocate(dtype: DType, shape: readonly number[], options: AllocateOptions = {}): AnyTensor {
  const Ctor = DTYPE_CTORS[assertDType(dtype, '`dtype`')];
  const dims = checkShape(shape);
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  assertKnownKeys(options, ['shared', 'heap'], 'allocate');
  for (const key of ['shared', 'heap'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') {
      throw new OptionError(`Expected \`options.${key}\` to be a boolean, got ${describe(options[key])}`);
    }
  }
  const length = shapeSize(dims);
  const bytes = length * Ctor.BYTES_PER_ELEMENT;
  const inHeap = options.heap ? allocateInHeap(bytes) : undefined;
  let data: AnyTypedArray;
  if (inHeap !== undefined) {
    data = new Ctor(inHeap.buffer, inHeap.at, length);
    adoptHeapArray(data, inHeap.at);
  } else if (options.shared || options.heap) {
    data = new Ctor(new SharedArrayBuffer(bytes), 0, length);
  } else {
    data = new Ctor(length);
  }
  return { data, shape: dims, dtype };
}

/**
 * Gives a heap tensor's memory back to the kernel heap now rather than when its data is garbage-collected
 * (like TF.js's `dispose`). The tensor, and every view of its data, must not be used afterwards: the memory
 * will hold other tensors (`isInHeap` still answers true for it).
 *
 * @returns true when the tensor was allocated in this thread's heap and is now freed; false (nothing done)
 *   for any other tensor, including one already disposed.
 * @throws {TensorError} when `t` is not a tensor (an object whose `data` is a typed array).
 */
export function disposeTensor(t: AnyTensor): boolean {
  return freeHeapArray(tensorData(t, 'disposeTensor'));
}

function tensorData(t: unknown, fn: string): ArrayBufferView {
  const data = (t as { data?: unknown } | null)?.data;
  if (typeof t !== 'object' || !ArrayBuffer.isView(data)) {
    throw new TensorError(
      `Expected the argument of ${fn}() to be a tensor ({ data, shape, dtype }), got ${describe(t)}`,
    );
  }
  return data;
}

/** True when the tensor's data lives in a `SharedArrayBuffer`. */
export function isShared(t: AnyTensor): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && t.data.buffer instanceof SharedArrayBuffer;
}

/**
 * True when the tensor's data lives in this thread's kernel heap (see {@link AllocateOptions.heap}).
 *
 * @throws {TensorError} when `t` is not a tensor (an object whose `data` is a typed array).
 */
export function isInHeap(t: AnyTensor): boolean {
  return heapAddress(tensorData(t, 'isInHeap')) >= 0;
}

/** Copies a tensor into a new `SharedArrayBuffer`-backed tensor of the same dtype and shape. */
export function toShared<D extends AnyTypedArray>(t: Tensor<D>): Tensor<D> {
  const copy = allocate(t.dtype, t.shape, { shared: true }) as Tensor<D>;
  (copy.data as TypedArray).set(t.data as TypedArray);
  return copy;
}
