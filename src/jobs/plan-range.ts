/**
 * The mean ranges of plan tasks (checkpoint averaging) as a worker runs them. Ranges with float16/bfloat16
 * inputs or output go to the native half kernel, which reads the input files in cache-sized steps itself
 * (native/half.c through files.c: read, decoded, averaged and rounded in C); everything else, and
 * every range that kernel declines, goes to `fuseRange` (the float kernels' mapped path, else positioned
 * reads and the reference kernels), with the same bits either way.
 *
 * A leaf for the workers: imports only the range helpers, the kernel loaders, the write-behind writer and the
 * dtype table.
 */
import { halfKernelCode, nativeHalfKernel } from '../kernels/native-half.js';
import { DTYPE_CTORS, type FloatDataArray } from '../tensor/dtype.js';
import type { FuseFilesTask } from './protocol.js';
import { type FileCache, fileArgs, fuseRange } from './range.js';
import { writeOutput } from './write-behind.js';

/** This thread's output buffer of the half path, grown on demand and reused. */
let scratch = new ArrayBuffer(0);

/**
 * The plain mean of the range, read from the input files by the native half kernel, into `out`; false
 * (with `out` to be overwritten) when it cannot serve: no addon, weights or NaN omission, a byte swap, a
 * dtype it does not read, too many open files, or a chunk that needs the reference's slow paths (and the
 * exact mode, which the reference serves).
 */
function nativeHalf(task: FuseFilesTask, files: FileCache, out: FloatDataArray): boolean {
  const k = nativeHalfKernel();
  const { weights, nanOmit, half, exact } = task.params;
  if (k === null || weights !== null || nanOmit || exact === true || half === undefined) return false;
  const outCode = halfKernelCode(task.out.dtype);
  if (outCode === undefined) return false;
  const args = fileArgs(task, files, halfKernelCode);
  if (args === null) return false;
  return k.meanFilesHalf(args.fds, args.offsets, args.codes, out, outCode, out.length) === 0;
}

/**
 * Fuses elements `[start, end)` of a plan's mean range into its output file; returns the input bytes read.
 * Bitwise the result of `fuseRange`, which it defers to whenever the native half path does not serve; run
 * it inside `withReference` (range.ts), as `fuseRange`.
 */
export function fusePlanRange(task: FuseFilesTask, files: FileCache): number {
  if (task.params.half === undefined) return fuseRange(task, files);
  const n = task.end - task.start;
  const OutCtor = DTYPE_CTORS[task.out.dtype];
  const bytes = n * OutCtor.BYTES_PER_ELEMENT;
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(bytes);
  const out = new OutCtor(scratch, 0, n) as FloatDataArray;
  if (!nativeHalf(task, files, out)) return fuseRange(task, files);
  const result = new Uint8Array(scratch, 0, bytes);
  files.with(task.out.path, 'r+', (fd) =>
    writeOutput(fd, task.out.path, result, task.out.offset + task.start * OutCtor.BYTES_PER_ELEMENT),
  );
  return task.inputs.reduce((s, x) => s + n * DTYPE_CTORS[x.dtype].BYTES_PER_ELEMENT, 0);
}
