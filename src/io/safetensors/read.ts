/**
 * Reading safetensors files: the header alone, one tensor, every tensor, or a byte range of one tensor.
 * Data is little-endian, row-major; on a big-endian machine it is swapped on read.
 *
 * ## References
 * - huggingface/safetensors README ("Format") and `safetensors/src/tensor.rs`.
 */
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { DTypeError, SafetensorsFormatError } from '../../errors.js';
import { DTYPE_CTORS } from '../../tensor/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import { swapBytes } from '../npy/range.js';
import { SAFETENSORS_DTYPES, type SafetensorsDType } from './dtypes.js';
import {
  headerLength,
  parseSafetensorsHeader,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './header.js';

/** A tensor as stored in a safetensors file; `data` is typed by dtype (see {@link readSafetensors}). */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /**
   * Float64Array (F64), Float32Array (F32), Uint16Array of bit patterns (F16, BF16), BigInt64Array (I64),
   * BigUint64Array (U64), Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array (U8 and
   * BOOL, 0/1).
   */
  readonly data: ArrayBufferView;
}

const LITTLE = endianness() === 'LE';

/**
 * Reads and validates the header of a safetensors file, reading only its first 8 + N bytes.
 *
 * @returns The tensors (in data order and by name), `__metadata__`, and where the data area starts.
 * @throws {SafetensorsFormatError} for any violation of the format (names the file and the tensor).
 * @throws {Error} Node's file system errors (`ENOENT`, `EACCES`, …).
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const prefix = new Uint8Array(8);
    await readAt(fh, prefix, 0, path);
    const n = headerLength(prefix, size, path);
    const json = new Uint8Array(n);
    await readAt(fh, json, 8, path);
    return parseSafetensorsHeader(json, size - 8 - n, path);
  } finally {
    await fh.close();
  }
}

/**
 * Validates a whole safetensors file held in memory.
 *
 * @throws {SafetensorsFormatError} for any violation of the format.
 */
export function parseSafetensors(buffer: Uint8Array, file = '<buffer>'): SafetensorsHeader {
  const n = headerLength(buffer.subarray(0, 8), buffer.length, file);
  return parseSafetensorsHeader(buffer.subarray(8, 8 + n), buffer.length - 8 - n, file);
}

async function readAt(
  fh: import('node:fs/promises').FileHandle,
  dest: Uint8Array,
  position: number,
  file: string,
): Promise<void> {
  let done = 0;
  while (done < dest.length) {
    const { bytesRead } = await fh.read(dest, done, dest.length - done, position + done);
    if (bytesRead === 0)
      throw new SafetensorsFormatError(file, `truncated: the file ends at byte ${position + done}`);
    done += bytesRead;
  }
}

/** A typed array of `entry`'s dtype over `bytes` (8-byte aligned, so every view is valid). */
function typedView(dtype: SafetensorsDType, bytes: Uint8Array): ArrayBufferView {
  const { size } = SAFETENSORS_DTYPES[dtype];
  const n = bytes.length / size;
  const Ctor: new (buffer: ArrayBufferLike, offset: number, length: number) => ArrayBufferView =
    dtype === 'I64'
      ? BigInt64Array
      : dtype === 'U64'
        ? BigUint64Array
        : dtype === 'BOOL'
          ? Uint8Array
          : DTYPE_CTORS[SAFETENSORS_DTYPES[dtype].dtype as keyof typeof DTYPE_CTORS];
  if (!LITTLE) swapBytes(bytes, size);
  return new Ctor(bytes.buffer, bytes.byteOffset, n);
}

/**
 * Reads bytes `[from, to)` of one tensor's data (relative to the tensor's first byte) from an open file.
 */
export async function readTensorBytes(
  fh: import('node:fs/promises').FileHandle,
  header: SafetensorsHeader,
  entry: SafetensorsEntry,
  from = 0,
  to = entry.end - entry.begin,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(new ArrayBuffer(Math.ceil((to - from) / 8) * 8), 0, to - from);
  await readAt(fh, bytes, header.dataOffset + entry.begin + from, header.file);
  return bytes;
}

/**
 * Reads a safetensors file: one tensor when `name` is given, else every tensor (a Map in data order).
 *
 * @param path - The file.
 * @param name - The tensor to read; omit to read all.
 * @throws {SafetensorsFormatError} for a malformed file, or a `name` the file does not hold.
 * @throws {Error} Node's file system errors.
 */
export async function readSafetensors(path: string, name: string): Promise<SafetensorsTensor>;
export async function readSafetensors(path: string): Promise<Map<string, SafetensorsTensor>>;
export async function readSafetensors(
  path: string,
  name?: string,
): Promise<SafetensorsTensor | Map<string, SafetensorsTensor>> {
  const header = await readSafetensorsHeader(path);
  const fh = await open(path, 'r');
  try {
    const read = async (e: SafetensorsEntry): Promise<SafetensorsTensor> => ({
      dtype: e.dtype,
      shape: e.shape,
      data: typedView(e.dtype, await readTensorBytes(fh, header, e)),
    });
    if (name !== undefined) {
      const e = header.byName.get(name);
      if (e === undefined) throw new SafetensorsFormatError(path, 'no such tensor in the file', name);
      return await read(e);
    }
    const out = new Map<string, SafetensorsTensor>();
    for (const e of header.tensors) out.set(e.name, await read(e));
    return out;
  } finally {
    await fh.close();
  }
}

/**
 * The package tensor of a safetensors tensor (F16/BF16 as float16/bfloat16 bit patterns), sharing its data.
 *
 * @throws {DTypeError} for I64, U64 and BOOL, which this package does not compute with.
 */
export function safetensorsToTensor(t: SafetensorsTensor): Tensor {
  const dtype = SAFETENSORS_DTYPES[t.dtype].dtype;
  if (dtype === null) throw new DTypeError(`safetensors ${t.dtype} data has no tensor dtype in this package`);
  return { data: t.data as Tensor['data'], shape: t.shape, dtype };
}
