/**
 * The `.npy` header: parsing (from the first bytes of a file only) and encoding.
 *
 * Layout (NEP 1; `numpy.lib.format`): the magic string `\x93NUMPY`, one byte major and one byte minor
 * version, the header length as a little-endian unsigned integer (2 bytes in version 1.0, 4 bytes in 2.0
 * and 3.0), then the header: the `repr` of a Python dict with exactly the keys `descr` (a type string),
 * `fortran_order` (a bool) and `shape` (a tuple of ints), padded with spaces and ended by a newline so the
 * data that follows starts at a multiple of 64 bytes. Versions 1.0 and 2.0 encode the header in latin-1,
 * 3.0 in UTF-8. The data follows, `prod(shape)` items in C order unless `fortran_order` is true.
 *
 * ## References
 * - NumPy Enhancement Proposal 1, "A simple file format for NumPy arrays" (NEP 1).
 * - `numpy.lib.format` module documentation ("Format Version 1.0", "2.0", "3.0").
 */
import { NpyFormatError } from '../../errors.js';
import type { DType } from '../../tensor/dtype.js';
import { formatShape } from '../../tensor/shape.js';
import { descrOf, parseDescr } from './descr.js';
import { PyLiteralError, type PyValue, parsePyLiteral } from './literal.js';

/** The magic string that opens every `.npy` file. */
export const NPY_MAGIC = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** Bytes needed to know a header's total length: magic (6), version (2) and a 4-byte length field. */
export const NPY_PRELUDE_BYTES = 12;

/** A parsed `.npy` header. */
export interface NpyHeader {
  /** The file it came from (used in error messages). */
  readonly file: string;
  /** Format version, e.g. `'1.0'`. */
  readonly version: '1.0' | '2.0' | '3.0';
  /** The type string as written, e.g. `'>i2'`. */
  readonly descr: string;
  /** The dtype data is read as (`b1` reads as `uint8`). */
  readonly dtype: DType;
  /** Bytes per element. */
  readonly itemSize: number;
  /** True when the data's byte order differs from this machine's (swapped on read). */
  readonly swap: boolean;
  /** True when the file holds numpy `bool` data (read as 0/1 uint8). */
  readonly bool: boolean;
  /** Dimensions; `[]` for a 0-d array. */
  readonly shape: readonly number[];
  /** Number of elements (1 for 0-d). */
  readonly size: number;
  /** Byte offset of the first element: the total header length. */
  readonly dataOffset: number;
  /** Bytes of data: `size × itemSize`. */
  readonly dataBytes: number;
}

const SUPPORTED = 'f8 f4 f2 i1 u1 i2 u2 i4 u4 i8 u8 b1 (with <, >, | or =)';

function check(magicAndVersion: Uint8Array, file: string): { major: number; lengthBytes: number } {
  if (magicAndVersion.length < 8 || NPY_MAGIC.some((b, i) => magicAndVersion[i] !== b)) {
    throw new NpyFormatError(file, 'not a .npy file (the magic string \\x93NUMPY is missing)');
  }
  const major = magicAndVersion[6];
  const minor = magicAndVersion[7];
  if (minor !== 0 || major < 1 || major > 3) {
    throw new NpyFormatError(
      file,
      `unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`,
    );
  }
  return { major, lengthBytes: major === 1 ? 2 : 4 };
}

/**
 * Total header length (magic, version, length field and header text): the offset of the data.
 *
 * @param prefix - The file's first bytes: at least {@link NPY_PRELUDE_BYTES}, or the whole file if shorter.
 * @throws {NpyFormatError} for a bad magic string, an unknown version or a prefix too short to hold the
 *   length field.
 */
export function npyHeaderLength(prefix: Uint8Array, file: string): number {
  const { lengthBytes } = check(prefix, file);
  if (prefix.length < 8 + lengthBytes) {
    throw new NpyFormatError(file, `truncated header: the file has only ${prefix.length} bytes`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const length = lengthBytes === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
  return 8 + lengthBytes + length;
}

/**
 * Parses a `.npy` header from the file's first bytes (the data need not be present).
 *
 * Fortran-ordered arrays are accepted only when their layout equals C order (at most one dimension larger
 * than 1); others are refused, since rows of a column-major file are not contiguous.
 *
 * @param bytes - The file's first {@link npyHeaderLength} bytes or more.
 * @param file - The file name, for error messages.
 * @throws {NpyFormatError} for a bad magic string, an unknown version, a truncated header, header text that
 *   is not a Python dict literal with exactly the keys `descr`, `fortran_order`, `shape`, an unsupported
 *   `descr`, a `shape` that is not a tuple of non-negative integers, a data size beyond 2^53 bytes, or a
 *   Fortran-ordered array whose layout differs from C order.
 */
export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  const total = npyHeaderLength(bytes, file);
  const { major } = check(bytes, file);
  if (bytes.length < total) {
    throw new NpyFormatError(
      file,
      `truncated header: it declares ${total} bytes but only ${bytes.length} are present`,
    );
  }
  const start = major === 1 ? 10 : 12;
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(
      bytes.subarray(start, total),
    );
  } catch {
    throw new NpyFormatError(file, 'the version 3.0 header is not valid UTF-8');
  }
  let dict: PyValue;
  try {
    dict = parsePyLiteral(text);
  } catch (error) {
    if (error instanceof PyLiteralError) {
      throw new NpyFormatError(file, `the header is not a Python dict literal: ${error.message}`);
    }
    throw error;
  }
  if (!(dict instanceof Map)) {
    throw new NpyFormatError(file, 'the header is not a dict');
  }
  const keys = [...dict.keys()].sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    throw new NpyFormatError(
      file,
      `the header must have exactly the keys 'descr', 'fortran_order', 'shape'; got ${keys.map((k) => `'${k}'`).join(', ') || 'none'}`,
    );
  }
  const descr = dict.get('descr');
  const parsed = typeof descr === 'string' ? parseDescr(descr) : undefined;
  if (parsed === undefined) {
    const shown = typeof descr === 'string' ? `'${descr}'` : '(a structured dtype)';
    throw new NpyFormatError(file, `unsupported dtype ${shown} (supported: ${SUPPORTED})`);
  }
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') {
    throw new NpyFormatError(file, "'fortran_order' must be True or False");
  }
  const rawShape = dict.get('shape');
  if (!Array.isArray(rawShape) || rawShape.some((d) => typeof d !== 'number' || d < 0)) {
    throw new NpyFormatError(file, "'shape' must be a tuple of non-negative integers");
  }
  const shape = Object.freeze([...(rawShape as number[])]);
  let size = 1;
  for (const d of shape) size *= d;
  const dataBytes = size * parsed.itemSize;
  if (!Number.isSafeInteger(dataBytes)) {
    throw new NpyFormatError(file, `shape ${formatShape(shape)} is too large`);
  }
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    throw new NpyFormatError(
      file,
      `the array of shape ${formatShape(shape)} is stored in Fortran (column-major) order, which is not supported; save it in C order (numpy.ascontiguousarray)`,
    );
  }
  return {
    file,
    version: `${major}.0` as NpyHeader['version'],
    descr: descr as string,
    dtype: parsed.dtype,
    itemSize: parsed.itemSize,
    swap: parsed.swap,
    bool: parsed.bool,
    shape,
    size,
    dataOffset: total,
    dataBytes,
  };
}

/**
 * Encodes a `.npy` header for C-ordered data of `dtype` and `shape` in this machine's byte order: version
 * 1.0 when the header fits its 2-byte length field, else 2.0; padded so the data starts at a multiple of
 * 64 bytes, as numpy writes it.
 */
export function encodeNpyHeader(dtype: DType, shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descrOf(dtype)}', 'fortran_order': False, 'shape': ${dims}, }`;
  let major = 1;
  let prelude = 10;
  let padded = Math.ceil((prelude + dict.length + 1) / 64) * 64 - prelude;
  if (padded > 0xffff) {
    major = 2;
    prelude = 12;
    padded = Math.ceil((prelude + dict.length + 1) / 64) * 64 - prelude;
  }
  const out = new Uint8Array(prelude + padded);
  out.set(NPY_MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  const text = `${dict}${' '.repeat(padded - dict.length - 1)}\n`;
  for (let i = 0; i < text.length; i++) out[prelude + i] = text.charCodeAt(i);
  return out;
}
