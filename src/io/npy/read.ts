/**
 * Reading `.npy` files: the header alone (so callers can then read row ranges at file offsets), the whole
 * array, or a range of rows along the first axis. Big-endian data is byte-swapped on read; `b1` (bool)
 * data reads as uint8 0/1.
 *
 * ## References
 * - NumPy Enhancement Proposal 1 (NEP 1) and the `numpy.lib.format` module documentation.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import { FileError, NpyFormatError, OptionError } from '../../errors.js';
import { DTYPE_CTORS } from '../../tensor/dtype.js';
import { formatShape, rowCount, rowSize } from '../../tensor/shape.js';
import type { AnyTensor } from '../../tensor/tensor.js';
import { NPY_PRELUDE_BYTES, type NpyHeader, npyHeaderLength, parseNpyHeader } from './header.js';
import { swapBytes } from './range.js';

/** Fills `dest` from byte `position`, looping over short reads; throws if the file ends first. */
async function readAt(fh: FileHandle, dest: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < dest.length) {
    const { bytesRead } = await fh.read(dest, done, dest.length - done, position + done);
    if (bytesRead === 0) {
      throw new NpyFormatError(file, `truncated: the file ends at byte ${position + done}`);
    }
    done += bytesRead;
  }
}

/**
 * Reads and checks the header of an open `.npy` file, reading only the header's bytes.
 *
 * @throws {NpyFormatError} for any malformed header (see {@link parseNpyHeader}) or a file whose length
 *   is too short for the header's shape and dtype (truncated data). Bytes after the data are ignored, as
 *   `np.load` ignores them.
 */
export async function readNpyHeaderFrom(fh: FileHandle, file: string): Promise<NpyHeader> {
  const { size: fileSize } = await fh.stat();
  const prelude = new Uint8Array(Math.min(NPY_PRELUDE_BYTES, fileSize));
  await readAt(fh, prelude, 0, file);
  const total = npyHeaderLength(prelude, file);
  if (total > fileSize) {
    throw new NpyFormatError(
      file,
      `truncated header: it declares ${total} bytes but the file has ${fileSize}`,
    );
  }
  const bytes = new Uint8Array(total);
  await readAt(fh, bytes, 0, file);
  const header = parseNpyHeader(bytes, file);
  const present = fileSize - header.dataOffset;
  // Bytes after the data are ignored, as np.load ignores them (it reads prod(shape) items and stops).
  if (present < header.dataBytes) {
    throw new NpyFormatError(
      file,
      `truncated data: shape ${formatShape(header.shape)} of '${header.descr}' needs ${header.dataBytes} data bytes, the file has ${present}`,
    );
  }
  return header;
}

/**
 * Opens `path` for reading after checking it is a regular file: a directory would fail with a bare
 * `EISDIR`, and opening a FIFO would block until a writer appears (a hang no signal interrupts).
 *
 * @throws {NpyFormatError} when `path` is a directory, FIFO, socket or device.
 * @throws {FileError} when it does not exist or cannot be opened (Node's `code` kept).
 */
async function openRegular(path: string): Promise<FileHandle> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new FileError(path, error);
  });
  if (!info.isFile()) {
    const kind = info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO (named pipe)' : 'not a file';
    throw new NpyFormatError(path, `is ${kind}; expected a regular .npy file`);
  }
  return open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new FileError(path, error);
  });
}

/**
 * Reads and checks the header of the `.npy` file at `path` (only the header's bytes are read).
 *
 * @throws {NpyFormatError} for a malformed header or a file length that disagrees with it.
 * @throws {FileError} when the file cannot be opened: names it and the problem, `code` is Node's
 *   (`ENOENT`, `EACCES`, …).
 */
export async function readNpyHeader(path: string): Promise<NpyHeader> {
  const fh = await openRegular(path);
  try {
    return await readNpyHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

/**
 * Reads rows `[start, end)` along the first axis of the `.npy` file at `path` (a 0-d array is one row).
 *
 * @returns A tensor of shape `[end - start, ...shape.slice(1)]` (or `[]` for a 0-d file), dtype from the
 *   file, in this machine's byte order.
 * @throws {OptionError} when `start`/`end` are not integers with `0 ≤ start ≤ end ≤ rows`.
 * @throws {NpyFormatError} for a malformed file.
 */
export async function readNpyRows(path: string, start: number, end: number): Promise<AnyTensor> {
  const fh = await openRegular(path);
  try {
    return await readRows(fh, await readNpyHeaderFrom(fh, path), start, end);
  } finally {
    await fh.close();
  }
}

async function readRows(fh: FileHandle, header: NpyHeader, start: number, end: number): Promise<AnyTensor> {
  const rows = rowCount(header.shape);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > rows) {
    throw new OptionError(
      `Expected rows 0 ≤ start ≤ end ≤ ${rows} of ${header.file}, got start ${String(start)} and end ${String(end)}`,
    );
  }
  const perRow = rowSize(header.shape);
  const length = (end - start) * perRow;
  const data = new DTYPE_CTORS[header.dtype](length);
  const bytes = new Uint8Array(data.buffer, 0, length * header.itemSize);
  await readAt(fh, bytes, header.dataOffset + start * perRow * header.itemSize, header.file);
  if (header.swap) swapBytes(bytes, header.itemSize);
  const shape = header.shape.length === 0 ? [] : [end - start, ...header.shape.slice(1)];
  return { data, shape: Object.freeze(shape), dtype: header.dtype };
}

/**
 * Reads a whole `.npy` file.
 *
 * @returns A tensor of the file's shape and dtype (`b1` as uint8; `i8`/`u8` as int64/uint64 with
 *   `BigInt64Array`/`BigUint64Array` data), in this machine's byte order.
 * @throws {NpyFormatError} for a malformed file (see {@link readNpyHeader}).
 */
export async function readNpy(path: string): Promise<AnyTensor> {
  const fh = await openRegular(path);
  try {
    const header = await readNpyHeaderFrom(fh, path);
    const tensor = await readRows(fh, header, 0, rowCount(header.shape));
    return { ...tensor, shape: header.shape };
  } finally {
    await fh.close();
  }
}
