/**
 * The dtype table: names (numpy's), typed-array constructors and sizes.
 *
 * `uint8clamped` data (a `Uint8ClampedArray`) is accepted and reported as `uint8`, as numpy has no clamped type.
 * int64/uint64 data are `BigInt64Array`/`BigUint64Array` (their elements are BigInts).
 * `float16` (IEEE binary16) and `bfloat16` are stored as bit patterns in a `Uint16Array` (Node 20 has no
 * `Float16Array`), so a `Uint16Array` reads as `uint16` unless a tensor names its dtype (see `half.ts`).
 */
import { DTypeError, describe } from '../errors.js';

/** Element types a tensor may hold, named as in numpy. */
export type DType =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64';

/** The dtypes whose elements are numbers (all but int64 and uint64). */
export type NumberDType = Exclude<DType, 'int64' | 'uint64'>;

/** Output element types of a fusion. */
export type FloatDType = 'float64' | 'float32' | 'float16' | 'bfloat16';

/** True for a float dtype name. */
export function isFloatDType(value: unknown): value is FloatDType {
  return value === 'float64' || value === 'float32' || value === 'float16' || value === 'bfloat16';
}

/** Typed arrays of 64-bit integers (int64, uint64), whose elements are BigInts. */
export type BigIntArray = BigInt64Array | BigUint64Array;

/** Any typed array a tensor may hold: {@link TypedArray} (elements are numbers) or {@link BigIntArray}. */
export type AnyTypedArray = TypedArray | BigIntArray;

/** A typed array whose elements are numbers (every dtype but int64 and uint64). */
export type TypedArray =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** Typed array of a float32 or float64 dtype. */
export type FloatArray = Float64Array | Float32Array;

/** Typed array of any float dtype (float16 and bfloat16 as `Uint16Array` bit patterns). */
export type FloatDataArray = FloatArray | Uint16Array;

type Ctor = {
  new (length: number): AnyTypedArray;
  new (buffer: ArrayBufferLike, offset: number, length: number): AnyTypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

/** Constructor per dtype. */
export const DTYPE_CTORS: Readonly<Record<DType, Ctor>> = {
  float64: Float64Array,
  float32: Float32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
};

/** True for int64/uint64 data (BigInt elements). */
export function isBigIntArray(data: unknown): data is BigIntArray {
  return data instanceof BigInt64Array || data instanceof BigUint64Array;
}

/** All dtype names, in the table's order. */
export const DTYPES = Object.keys(DTYPE_CTORS) as DType[];

/** Bytes per element of `dtype`. */
export function itemSize(dtype: DType): number {
  return DTYPE_CTORS[dtype].BYTES_PER_ELEMENT;
}

/** True when `value` names a supported dtype. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(DTYPE_CTORS, value);
}

/**
 * The dtype of a typed array.
 *
 * @throws {DTypeError} for Float16Array and for anything that is not a typed array.
 */
export function dtypeOf(data: unknown, what = '`data`'): DType {
  const dtype = typedArrayDType(data);
  if (dtype !== undefined) return dtype;
  const got = ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
  throw new DTypeError(
    `Expected ${what} to be a typed array of a supported dtype (${DTYPES.join(', ')}), got ${got}`,
  );
}

/** The dtype of a supported typed array's elements (see {@link dtypeOf}), or undefined for anything else. */
export function typedArrayDType(data: unknown): DType | undefined {
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  return undefined;
}

/**
 * Checks a dtype name.
 *
 * @throws {DTypeError} when `value` is not one of {@link DTYPES}.
 */
export function assertDType(value: unknown, what: string): DType {
  if (!isDType(value)) {
    throw new DTypeError(`Expected ${what} to be one of ${DTYPES.join(', ')}, got ${describe(value)}`);
  }
  return value;
}
