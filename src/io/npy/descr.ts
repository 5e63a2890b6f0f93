/**
 * The `descr` field of a `.npy` header: a numpy array-protocol type string such as `'<f8'` (byte order
 * character, kind, item size), mapped onto this package's dtypes.
 *
 * ## References
 * - NumPy Enhancement Proposal 1, "A simple file format for NumPy arrays" (NEP 1), and the module
 *   documentation of `numpy.lib.format`: the header's `descr` is `dtype.descr`-style, i.e. `dtype.str`.
 * - NumPy "Array interface protocol", `typestr`: `<` little-endian, `>` big-endian, `|` not applicable,
 *   `=` native; kinds `b` boolean, `i` signed integer, `u` unsigned integer, `f` floating point.
 */
import { endianness } from 'node:os';
import { DTypeError } from '../../errors.js';
import type { DType } from '../../tensor/dtype.js';

/** Typed arrays use the machine's byte order. */
const HOST = endianness() === 'LE' ? '<' : '>';

/** A parsed `descr`: the dtype data is read as, its byte order and whether it was numpy's `bool`. */
export interface NpyDescr {
  /** The dtype the data is read as (`b1` reads as `uint8`). */
  readonly dtype: DType;
  /** Bytes per element. */
  readonly itemSize: number;
  /** True when the file's byte order differs from this machine's, so the bytes must be swapped on read. */
  readonly swap: boolean;
  /** True for numpy `bool` (`b1`) data, read as uint8 0/1. */
  readonly bool: boolean;
}

const KINDS: Readonly<Record<string, DType>> = {
  f8: 'float64',
  f4: 'float32',
  f2: 'float16',
  i1: 'int8',
  u1: 'uint8',
  b1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
};

const DESCRS: Readonly<Record<DType, string>> = {
  float64: '<f8',
  float32: '<f4',
  float16: '<f2',
  bfloat16: '', // numpy has no bfloat16: .npy files cannot hold it (see descrOf)
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
};

/**
 * Parses a type string. `|` (not applicable) and `=` (native) mean this machine's byte order.
 *
 * @returns The parsed descr, or `undefined` when the string is not one of the supported types
 *   (`f8 f4 f2 i1 u1 i2 u2 i4 u4 i8 u8 b1` with an optional `<`, `>`, `|` or `=` prefix).
 */
export function parseDescr(descr: string): NpyDescr | undefined {
  let order = '|';
  let kind = descr;
  if (descr.length === 3 && '<>|='.includes(descr[0])) {
    order = descr[0];
    kind = descr.slice(1);
  }
  if (!Object.hasOwn(KINDS, kind)) return undefined;
  const itemSize = Number(kind[1]);
  return {
    dtype: KINDS[kind],
    itemSize,
    swap: itemSize > 1 && (order === '<' || order === '>') && order !== HOST,
    bool: kind === 'b1',
  };
}

/**
 * The `descr` for `dtype` in this machine's byte order (`|` for one-byte types), as numpy writes it.
 *
 * @throws {DTypeError} for bfloat16, which numpy has no type for (`ml_dtypes` saves it as an opaque `V2`
 *   void type that numpy itself cannot read back as numbers): write float32, which holds every bfloat16
 *   exactly, or a safetensors file.
 */
export function descrOf(dtype: DType): string {
  const d = DESCRS[dtype];
  if (d === '') {
    throw new DTypeError(
      `${dtype} cannot be stored in a .npy file (numpy has no ${dtype} type); write float32, which holds it exactly, or safetensors`,
    );
  }
  return d[0] === '|' ? d : HOST + d.slice(1);
}
