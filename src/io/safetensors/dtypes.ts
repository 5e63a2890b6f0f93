/**
 * safetensors dtype names, their item sizes and how this package reads them.
 *
 * ## References
 * - huggingface/safetensors `safetensors/src/tensor.rs`, `enum Dtype` (names and sizes); data is
 *   little-endian, row-major.
 */
import type { DType } from '../../tensor/dtype.js';

/** The safetensors dtypes this package reads and writes. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

interface DTypeInfo {
  /** Bytes per element. */
  readonly size: number;
  /** The package dtype the data reads as, or `null` when it is read as raw bytes (int64, uint64, bool). */
  readonly dtype: DType | null;
  /** Floating point: averaged by the checkpoint job (integers and bools are copied). */
  readonly float: boolean;
}

/** The table, widest item first (the order writers lay tensors out in, so every tensor stays aligned). */
export const SAFETENSORS_DTYPES: Readonly<Record<SafetensorsDType, DTypeInfo>> = {
  F64: { size: 8, dtype: 'float64', float: true },
  I64: { size: 8, dtype: null, float: false },
  U64: { size: 8, dtype: null, float: false },
  F32: { size: 4, dtype: 'float32', float: true },
  I32: { size: 4, dtype: 'int32', float: false },
  U32: { size: 4, dtype: 'uint32', float: false },
  F16: { size: 2, dtype: 'float16', float: true },
  BF16: { size: 2, dtype: 'bfloat16', float: true },
  I16: { size: 2, dtype: 'int16', float: false },
  U16: { size: 2, dtype: 'uint16', float: false },
  I8: { size: 1, dtype: 'int8', float: false },
  U8: { size: 1, dtype: 'uint8', float: false },
  BOOL: { size: 1, dtype: null, float: false },
};

/** True when `name` is a supported safetensors dtype. */
export function isSafetensorsDType(name: unknown): name is SafetensorsDType {
  return typeof name === 'string' && Object.hasOwn(SAFETENSORS_DTYPES, name);
}

/** Bytes per element of a safetensors dtype. */
export function safetensorsItemSize(dtype: SafetensorsDType): number {
  return SAFETENSORS_DTYPES[dtype].size;
}

/** The safetensors name of a package dtype. */
export function safetensorsDTypeOf(dtype: DType): SafetensorsDType {
  const names: Record<DType, SafetensorsDType> = {
    float64: 'F64',
    float32: 'F32',
    float16: 'F16',
    bfloat16: 'BF16',
    int32: 'I32',
    uint32: 'U32',
    int16: 'I16',
    uint16: 'U16',
    int8: 'I8',
    uint8: 'U8',
    int64: 'I64',
    uint64: 'U64',
  };
  return names[dtype];
}
