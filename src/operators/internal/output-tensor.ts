/** The output tensors of the stream operators: new, never written again once emitted. */
import { Buffer } from 'node:buffer';
import type { FloatDType } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

/** A zero-filled output tensor; `shape` is an already checked, frozen shape. */
export function newTensor(dtype: FloatDType, shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  return { data: dtype === 'float32' ? new Float32Array(n) : new Float64Array(n), shape, dtype };
}

/**
 * An output tensor whose elements the caller writes every one of before anyone sees it: its own
 * ArrayBuffer of exactly its bytes, as {@link newTensor}'s, but not zero-filled first. At the sizes of a
 * stream's images (a few KiB), allocation is most of an emission's cost and the zero fill part of it
 * (`Buffer.allocUnsafeSlow`: never Node's shared buffer pool).
 */
export function unfilledTensor(dtype: FloatDType, shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  const f32 = dtype === 'float32';
  const buffer = Buffer.allocUnsafeSlow(n * (f32 ? 4 : 8)).buffer;
  return { data: f32 ? new Float32Array(buffer, 0, n) : new Float64Array(buffer, 0, n), shape, dtype };
}
