/**
 * Allocation of tensors, optionally backed by a `SharedArrayBuffer` so worker threads can share them, or
 * placed in the kernel heap so the SIMD kernel reads them in place.
 */
import { adoptHeapArray, allocateInHeap, freeHeapArray, heapAddress } from '../kernels/heap/memory.js';
import { assertDType, DTYPE_CTORS, type DType, type TypedArray } from './dtype.js';
import { checkShape, shapeSize } from './shape.js';
import type { Tensor } from './tensor.js';

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /**
   * Back the tensor with a `SharedArrayBuffer` (shared, not copied, when sent to a worker).
   * @default false
   */
  shared?: boolean;
  /**
   * Place the tensor in the kernel heap: this process's shared WebAssembly memory, which the SIMD kernel
   * reads (and, for float64 results, writes) in place, with no staging copy, in this thread and in every
   * thread of a {@link FusionPool}. A heap tensor is shared like `shared: true`; its `data.buffer` is the
   * whole heap (use `data.byteOffset`). The range is given back when `data` is garbage-collected or at
   * {@link disposeTensor}; views made from `data` (`subarray`, `new Float64Array(data.buffer, …)`) do not
   * keep it alive. Falls back to a plain `SharedArrayBuffer` when the heap cannot grow (wasm32 caps it at
   * 4 GiB) or the heap belongs to another thread (a pool worker).
   * @default false
   */
  heap?: boolean;
}

/**
 * Allocates a zero-filled tensor.
 *
 * @param dtype - Element type.
 * @param shape - Dimensions (row-major).
 * @throws {DTypeError} when `dtype` is not a supported dtype name.
 * @throws {TensorError} when a dimension is not a non-negative integer.
 * @throws {RangeError} when the buffer cannot be allocated.
 */
export function allocate(dtype: DType, shape: readonly number[], options: AllocateOptions = {}): Tensor {
  const Ctor = DTYPE_CTORS[assertDType(dtype, '`dtype`')];
  const dims = checkShape(shape);
  const length = shapeSize(dims);
  const bytes = length * Ctor.BYTES_PER_ELEMENT;
  const inHeap = options.heap ? allocateInHeap(bytes) : undefined;
  let data: TypedArray;
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
 * (like TF.js's `dispose`). The tensor, and every view of its data, must not be used afterwards.
 *
 * @returns true when the tensor was in the heap and is now freed; false (nothing done) for any other
 *   tensor, including one already disposed.
 */
export function disposeTensor(t: Tensor): boolean {
  return freeHeapArray(t.data);
}

/** True when the tensor's data lives in a `SharedArrayBuffer`. */
export function isShared(t: Tensor): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && t.data.buffer instanceof SharedArrayBuffer;
}

/** True when the tensor's data lives in this thread's kernel heap (see {@link AllocateOptions.heap}). */
export function isInHeap(t: Tensor): boolean {
  return heapAddress(t.data) >= 0;
}

/** Copies a tensor into a new `SharedArrayBuffer`-backed tensor of the same dtype and shape. */
export function toShared(t: Tensor): Tensor {
  const copy = allocate(t.dtype, t.shape, { shared: true });
  copy.data.set(t.data);
  return copy;
}
