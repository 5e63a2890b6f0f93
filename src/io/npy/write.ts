/**
 * Atomic writing of `.npy` files: the data goes to a temporary file beside the target (same directory, so
 * the final rename stays on one file system), which is flushed to disk and then moved into place. Readers
 * never see a half-written target, and an existing target is untouched until the final step.
 *
 * ## References
 * - NumPy Enhancement Proposal 1 (NEP 1) and the `numpy.lib.format` module documentation (file layout).
 * - POSIX `rename(2)` (atomic replacement) and `link(2)` (fails with `EEXIST`: atomic no-clobber).
 */
import { open } from 'node:fs/promises';
import { describe, OptionError } from '../../errors.js';
import { assertKnownKeys } from '../../option-keys.js';
import { type DType, itemSize } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { AnyTensor } from '../../tensor/tensor.js';
import { type AtomicFileWriter, createAtomicFile } from '../atomic.js';
import { encodeNpyHeader } from './header.js';

/** Options of {@link createNpyFile} and {@link writeNpy}. */
export interface NpyWriteOptions {
  /**
   * Replace an existing file at the target.
   * @default false
   */
  overwrite?: boolean;
}

/** A `.npy` file being written: header in place, data area sized, to be filled at `dataOffset`. */
export type NpyFileWriter = AtomicFileWriter;

/**
 * Creates the temporary file for a `.npy` of `dtype` and `shape` beside `target`: writes the header and
 * extends the file to its final length, so that workers can write rows at their offsets in any order.
 * First removes the temporary files of earlier writers of `target` whose process has died (a hard kill
 * leaves them behind; see `removeStaleTemps` in src/io/stale.ts).
 *
 * @throws {DTypeError} for bfloat16 (numpy has no bfloat16), before any file is made.
 * @throws {OutputExistsError} when `target` exists and `overwrite` is not true, or exists and is not a
 *   regular file (a symlink, directory or device is never replaced).
 * @throws {Error} `Cannot create <target>: <code>` (with Node's `code`: `ENOENT`, `EACCES`, …) when the
 *   temporary file cannot be created beside the target; `ENOSPC` and other errors while sizing it.
 */
export async function createNpyFile(
  target: string,
  dtype: DType,
  shape: readonly number[],
  options: NpyWriteOptions = {},
): Promise<NpyFileWriter> {
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  assertKnownKeys(options, ['overwrite'], 'createNpyFile');
  const header = encodeNpyHeader(dtype, shape);
  return createAtomicFile(target, header, shapeSize(shape) * itemSize(dtype), {
    overwrite: options.overwrite === true,
  });
}

/**
 * Writes a tensor as a C-ordered `.npy` file (this machine's byte order), atomically.
 *
 * @param path - Target file.
 * @param tensor - Any supported dtype and rank (0-d and zero-length dimensions included).
 * @throws {OutputExistsError} when `path` exists and `overwrite` is not true.
 * @throws {Error} (Node's file system errors) when writing fails; no file is left at `path` then.
 */
export async function writeNpy(
  path: string,
  tensor: AnyTensor,
  options: NpyWriteOptions = {},
): Promise<void> {
  const writer = await createNpyFile(path, tensor.dtype, tensor.shape, options);
  try {
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    const fh = await open(writer.tempPath, 'r+');
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, writer.dataOffset + done);
        done += bytesWritten;
      }
    } finally {
      await fh.close();
    }
    await writer.commit();
  } catch (error) {
    await writer.discard();
    throw error;
  }
}
