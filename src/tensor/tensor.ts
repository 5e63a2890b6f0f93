/**
 * The tensor model: a typed array plus a shape, row-major (C order), any rank (0-d included).
 */
import { DTypeError, TensorError } from '../errors.js';
import { type AnyTypedArray, type DType, dtypeOf, type TypedArray, typedArrayDType } from './dtype.js';
import { checkShape, formatShape, isCheckedShape, shapeSize } from './shape.js';

/**
 * A dense row-major tensor. `data.length` equals the product of `shape` (1 for 0-d). The type parameter is
 * the kind of `data`: by default a {@link TypedArray} of numbers; int64/uint64 tensors hold a
 * `BigInt64Array`/`BigUint64Array` (see {@link AnyTensor}).
 */
export interface Tensor<D extends AnyTypedArray = TypedArray> {
  /** Elements in row-major (C) order. */
  readonly data: D;
  /** Dimensions; `[]` for a scalar (0-d) tensor. */
  readonly shape: readonly number[];
  /** Element type, derived from `data` (`Uint8ClampedArray` reports `uint8`). */
  readonly dtype: DType;
}

/** A tensor of any dtype, int64/uint64 (BigInt data) included. */
export type AnyTensor = Tensor<AnyTypedArray>;

/** A tensor of any dtype, or nested arrays of numbers (read as float64). */
export type TensorLike = AnyTensor | NestedArray | number;

/** Nested arrays of numbers, e.g. `[[1, 2], [3, 4]]`. */
export type NestedArray = readonly (number | NestedArray)[];

/**
 * Makes a tensor from a typed array and a shape.
 *
 * @param shape - Dimensions; defaults to `[data.length]`.
 * @param data - Elements in row-major order, any supported typed array (`BigInt64Array` for int64,
 *   `BigUint64Array` for uint64); shared, not copied.
 * @param dtype - `'float16'` or `'bfloat16'` for a `Uint16Array` of half-precision bit patterns (see
 *   `toHalfBits`); otherwise omitted (or equal to the dtype `data` has).
 * @throws {DTypeError} when `data` is not a supported typed array, or `dtype` disagrees with `data`.
 * @throws {TensorError} when a dimension is not a non-negative integer or `data.length` differs from the
 *   product of `shape`.
 */
export function tensor<D extends AnyTypedArray>(
  data: D,
  shape?: readonly number[],
  dtype?: DType,
): Tensor<D> {
  const resolved = dataDType(data, dtype);
  const dims = checkShape(shape === undefined ? [data.length] : shape);
  const size = shapeSize(dims);
  if (data.length !== size) {
    throw new TensorError(
      `data.length is ${data.length} but shape ${formatShape(dims)} holds ${size} elements`,
    );
  }
  return { data, shape: dims, dtype: resolved };
}

/** The dtype of `data` given a claimed `dtype`: half dtypes need a Uint16Array; others must match `data`. */
function dataDType(data: unknown, dtype: unknown): DType {
  const actual = dtypeOf(data);
  if (dtype === undefined || dtype === actual) return actual;
  if ((dtype === 'float16' || dtype === 'bfloat16') && data instanceof Uint16Array) return dtype;
  const hint =
    dtype === 'float16' || dtype === 'bfloat16' ? ` (${dtype} data is a Uint16Array of bit patterns)` : '';
  throw new DTypeError(
    `\`dtype\` is ${JSON.stringify(dtype)} but \`data\` is a ${(data as object).constructor.name} (${actual})${hint}`,
  );
}

/**
 * Makes a float64 tensor from nested arrays (or a single number, giving a 0-d tensor).
 *
 * @throws {TensorError} when the nesting is ragged or an entry is not a number.
 */
export function fromNested(value: NestedArray | number): Tensor {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const data = new Float64Array(shapeSize(shape));
  let offset = 0;
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number') {
        throw new TensorError(
          `Expected a number at ${path || 'the top level'}, got ${Array.isArray(node) ? 'an array' : typeof node}`,
        );
      }
      data[offset++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new TensorError(
        `Ragged nested array: expected ${shape[depth]} entries at ${path || 'the top level'}, got ${Array.isArray(node) ? node.length : typeof node}`,
      );
    }
    for (const [i, child] of node.entries()) walk(child, depth + 1, `${path}[${i}]`);
  };
  walk(value, 0, '');
  return { data, shape: Object.freeze(shape), dtype: 'float64' };
}

/**
 * Accepts a tensor or nested arrays and returns a checked tensor.
 *
 * @param name - How to name the value in errors, e.g. `` `inputs[2]` `` (or a function giving it).
 * @throws {DTypeError} for an unsupported `data` type or a `dtype` field that disagrees with `data`.
 * @throws {TensorError} for an inconsistent shape.
 */
export function toTensor(value: unknown, name: string | (() => string)): AnyTensor {
  // A function builds the name only when an error needs it (a stream checks every item).
  const named = () => (typeof name === 'string' ? name : name());
  if (typeof value === 'number' || Array.isArray(value)) {
    try {
      return fromNested(value as NestedArray | number);
    } catch (error) {
      throw new TensorError(`${named()}: ${(error as Error).message}`);
    }
  }
  if (ArrayBuffer.isView(value)) {
    const length = (value as { length?: number }).length;
    throw new TensorError(
      `Expected ${named()} to be a tensor ({ data, shape, dtype }) or nested arrays, got a bare ${value.constructor.name}: wrap it with a shape, e.g. tensor(data, [${length ?? 'n'}])`,
    );
  }
  if (typeof value !== 'object' || value === null || !('data' in value) || !('shape' in value)) {
    throw new TensorError(
      `Expected ${named()} to be a tensor ({ data, shape, dtype }) or nested arrays, got ${value === null ? 'null' : typeof value}`,
    );
  }
  const t = value as { data: unknown; shape: unknown; dtype?: unknown };
  const actual = typedArrayDType(t.data) ?? dtypeOf(t.data, `${named()}.data`);
  const half = (t.dtype === 'float16' || t.dtype === 'bfloat16') && t.data instanceof Uint16Array;
  if (t.dtype !== undefined && t.dtype !== actual && !half) {
    throw new DTypeError(
      `${named()}.dtype is ${JSON.stringify(t.dtype)} but its data is a ${(t.data as object).constructor.name} (${actual})`,
    );
  }
  const dtype = half ? (t.dtype as DType) : actual;
  const shape = isCheckedShape(t.shape) ? t.shape : checkShape(t.shape, `${named()}.shape`);
  const data = t.data as AnyTypedArray;
  const size = shapeSize(shape);
  if (data.length !== size) {
    throw new TensorError(
      `${named()}.data.length is ${data.length} but ${named()}.shape ${formatShape(shape)} holds ${size} elements`,
    );
  }
  return { data, shape, dtype };
}
