/** Allocation of tensors, optionally backed by a `SharedArrayBuffer` so worker threads can share them. */
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
  const data: TypedArray = options.shared
    ? new Ctor(new SharedArrayBuffer(length * Ctor.BYTES_PER_ELEMENT), 0, length)
    : new Ctor(length);
  return { data, shape: dims, dtype };
}

/** True when the tensor's data lives in a `SharedArrayBuffer`. */
export function isShared(t: Tensor): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && t.data.buffer instanceof SharedArrayBuffer;
}

/** Copies a tensor into a new `SharedArrayBuffer`-backed tensor of the same dtype and shape. */
export function toShared(t: Tensor): Tensor {
  const copy = allocate(t.dtype, t.shape, { shared: true });
  copy.data.set(t.data);
  return copy;
}
