/** The output tensors of the stream operators: new, zero-filled, never written again once emitted. */
import type { FloatDType } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

/** A zero-filled output tensor; `shape` is an already checked, frozen shape. */
export function newTensor(dtype: FloatDType, shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  return { data: dtype === 'float32' ? new Float32Array(n) : new Float64Array(n), shape, dtype };
}
