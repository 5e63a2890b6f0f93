/**
 * The work of one range of a file job, as a worker thread runs it: read the range of every input straight
 * from its file (positioned reads), swap byte order where needed, and either run the mean kernel or check
 * that the inputs are identical, then write the range straight into the output file at its offset.
 *
 * A leaf for the workers: imports only the native kernel's loader, the positioned I/O helpers, the dtype
 * table and the write-behind writer; the reference kernels are imported on first need (see withReference).
 */
import { closeSync, openSync } from 'node:fs';
import { readExactly, swapBytes } from '../io/npy/range.js';
import { NATIVE_DTYPE_CODES, type NativeFileExports, nativeKernel } from '../kernels/native.js';
import { type AnyTypedArray, DTYPE_CTORS, type FloatDataArray } from '../tensor/dtype.js';
import { chunksOf } from './chunk-runs.js';
import type { CopyRangeTask, FuseFilesTask, RangeResult } from './protocol.js';
import { writeOutput } from './write-behind.js';

/**
 * The reference kernels (every dtype and option: src/kernels/mean-range.ts and the WebAssembly, exact and
 * half-precision kernels behind it), loaded on the first range the mapped path declines. Most jobs never
 * need them, and a worker thread without them starts sooner: ~25 ms for two threads starting together on
 * the 2-core development machine (the worker's module graph drops from 26 files to 10).
 */
let reference: typeof import('../kernels/mean-range.js').meanRange | undefined;

/** Thrown by {@link fuseRange} when a range needs the reference kernels before they are loaded. */
class ReferenceNotLoaded extends Error {}

/**
 * Runs `work`, which fuses ranges with {@link fuseRange}; when a range needed the reference kernels first,
 * loads them and runs `work` again from the start (ranges write the same bytes at the same offsets, so
 * doing one twice changes nothing). Worker entries call this once per task.
 */
export async function withReference<T>(work: () => T): Promise<T> {
  try {
    return work();
  } catch (error) {
    if (!(error instanceof ReferenceNotLoaded)) throw error;
  }
  reference = (await import('../kernels/mean-range.js')).meanRange;
  return work();
}

/**
 * Input bytes (all k inputs together) read per step within a range: small enough that the step's inputs
 * are still in the core's L2 cache when the kernel reads them, so each input byte crosses main memory once
 * (page cache → cache) instead of three times (copy out, copy in, kernel read) with whole-range reads.
 */
const STEP_BYTES = 256 * 1024;

/**
 * Fewest elements per step: with many inputs (a stack of thousands of small images) an L2-sized step would
 * be a few elements, i.e. one read call per input per few elements. A step never exceeds the range, whose
 * size the planner already fitted into the memory budget.
 */
const MIN_STEP = 1024;

/** Keep at most this many files open at once; beyond it each read opens and closes its file. */
const MAX_OPEN = 64;

/**
 * One scratch buffer per thread, grown on demand and reused by later ranges, so a job's memory is the
 * range budget per thread rather than a stream of garbage for the collector.
 */
let scratch = new ArrayBuffer(0);

/**
 * The scratch buffer's size unit (see {@link scratchOf}). The rounding adds under 1 MiB a thread: folio
 * chunks above the per-task budget leave that much (folio-ranges.ts), and others fall within the headroom
 * of THREAD_BYTES in memory-budget.ts (16 MiB against the 12–14 MiB a thread measured).
 */
const SCRATCH_UNIT = 1024 * 1024;

function scratchOf(bytes: number): ArrayBuffer {
  // Whole MiB: chunks of nearly one size (a job's first and last are a little shorter) share one buffer
  // instead of leaving the smaller one resident until a collection.
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(Math.ceil(bytes / SCRATCH_UNIT) * SCRATCH_UNIT);
  return scratch;
}

const align8 = (b: number) => Math.ceil(b / 8) * 8;

/** Open files of one task, shared by its ranges and closed once at its end. */
export class FileCache {
  readonly #fds = new Map<string, number>();

  /** Calls `use` with an open descriptor of `path` (kept open while fewer than {@link MAX_OPEN} are). */
  with<T>(path: string, flags: 'r' | 'r+', use: (fd: number) => T): T {
    const key = `${flags}\0${path}`;
    let fd = this.#fds.get(key);
    if (fd !== undefined) return use(fd);
    fd = openSync(path, flags);
    if (this.#fds.size >= MAX_OPEN) {
      try {
        return use(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.#fds.set(key, fd);
    return use(fd);
  }

  /** A descriptor of `path` kept open for the task, or -1 when {@link MAX_OPEN} files are open already. */
  keep(path: string): number {
    const key = `r\0${path}`;
    let fd = this.#fds.get(key);
    if (fd !== undefined) return fd;
    if (this.#fds.size >= MAX_OPEN) return -1;
    fd = openSync(path, 'r');
    this.#fds.set(key, fd);
    return fd;
  }

  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}

/**
 * The file arguments of a native file kernel for the range's inputs: each input's open descriptor (kept in
 * `files`), the byte offset of the range's first element, and its dtype code in the kernel's table
 * (`codeOf`); null when an input needs a byte swap, has no code, or cannot be kept open.
 */
export function fileArgs(
  task: FuseFilesTask,
  files: FileCache,
  codeOf: (dtype: FuseFilesTask['inputs'][number]['dtype']) => number | undefined,
): { fds: number[]; offsets: number[]; codes: number[] } | null {
  const fds: number[] = [];
  const offsets: number[] = [];
  const codes: number[] = [];
  for (const x of task.inputs) {
    const code = codeOf(x.dtype);
    if (x.swap || code === undefined) return null;
    const fd = files.keep(x.path);
    if (fd < 0) return null;
    fds.push(fd);
    offsets.push(x.offset + task.start * DTYPE_CTORS[x.dtype].BYTES_PER_ELEMENT);
    codes.push(code);
  }
  return { fds, offsets, codes };
}

/** Flag list of the mapped-file kernel. */
const flags = new Int32Array(1 + 16384);

/**
 * The plain mean of the range straight from the input files' pages (the native kernel maps them, as numpy's
 * mmap_mode='r' does: no copy through a read buffer), in the exact mode too. Returns false, leaving `out` to
 * be overwritten, when that cannot serve: no native kernel, weights, NaN omission or half-precision dtypes, a
 * byte swap, a dtype it does not read, too many files to keep open, or elements the exact scalar finisher
 * must redo (non-finite or flagged results).
 */
function mapped(task: FuseFilesTask, files: FileCache, out: FloatDataArray): boolean {
  const k = nativeKernel() as unknown as NativeFileExports | null;
  const { weights, nanOmit, half, exact } = task.params;
  if (k === null || weights !== null || nanOmit || half !== undefined || out instanceof Uint16Array)
    return false;
  const args = fileArgs(task, files, (dtype) => NATIVE_DTYPE_CODES[dtype]);
  if (args === null) return false;
  const { fds, offsets, codes } = args;
  const status = k.meanFiles(fds, offsets, codes, out, out.length, flags, exact === true);
  return status === 0 && flags[0] === 0;
}

/**
 * Fuses elements `[start, end)` of the task's inputs into its output file; returns the input bytes read.
 * The range is computed in steps of {@link STEP_BYTES} of input into an output buffer written once.
 * Call it inside {@link withReference}: a range the mapped path declines needs the reference kernels, and
 * until they are loaded it throws (before writing anything) for `withReference` to load them and retry.
 */
export function fuseRange(task: FuseFilesTask, files = new FileCache()): number {
  const n = task.end - task.start;
  const OutCtor = DTYPE_CTORS[task.out.dtype];
  const ctors = task.inputs.map((x) => DTYPE_CTORS[x.dtype]);
  const perElement = ctors.reduce((s, C) => s + C.BYTES_PER_ELEMENT, 0);
  const step = Math.min(n, Math.max(MIN_STEP, Math.floor(STEP_BYTES / perElement)));
  const outBytes = align8(n * OutCtor.BYTES_PER_ELEMENT);
  const buffer = scratchOf(outBytes + ctors.reduce((s, C) => s + align8(step * C.BYTES_PER_ELEMENT), 0));
  const out = new OutCtor(buffer, 0, n) as FloatDataArray;
  // Views on the step buffers: each starts at a multiple of 8 bytes, so every typed array is aligned.
  let at = outBytes;
  const views: AnyTypedArray[] = ctors.map((C) => {
    const v = new C(buffer, at, step);
    at += align8(step * C.BYTES_PER_ELEMENT);
    return v;
  });
  const inPlace = mapped(task, files, out);
  // Nothing is written before this point: the range can be run again once the kernels are loaded.
  if (!inPlace && reference === undefined) throw new ReferenceNotLoaded();
  const meanRange = reference as NonNullable<typeof reference>;
  let read = inPlace ? n * perElement : 0;
  for (let s = 0; !inPlace && s < n; s += step) {
    const m = Math.min(step, n - s);
    const first = task.start + s;
    const stepViews = views.map((v, j) => {
      const size = ctors[j].BYTES_PER_ELEMENT;
      const bytes = new Uint8Array(v.buffer, v.byteOffset, m * size);
      const x = task.inputs[j];
      files.with(x.path, 'r', (fd) => readExactly(fd, bytes, x.offset + first * size, x.path));
      if (x.swap) swapBytes(bytes, size);
      read += m * size;
      return m === step ? v : v.subarray(0, m);
    });
    meanRange(stepViews, out.subarray(s, s + m), 0, m, task.params);
  }
  const result = new Uint8Array(buffer, 0, n * OutCtor.BYTES_PER_ELEMENT);
  files.with(task.out.path, 'r+', (fd) =>
    writeOutput(fd, task.out.path, result, task.out.offset + task.start * OutCtor.BYTES_PER_ELEMENT),
  );
  return read;
}

/**
 * Fuses the task's elements into its output file chunk by chunk (its `splits`, see {@link FuseFilesTask}),
 * each with {@link fuseRange}; returns the input bytes read. Run it inside {@link withReference}.
 *
 * @throws {RangeError} for splits that do not ascend strictly inside the task (see `chunksOf`).
 */
export function fuseTask(task: FuseFilesTask, files: FileCache): number {
  if (task.splits === undefined || task.splits.length === 0) return fuseRange(task, files);
  let read = 0;
  for (const { start, end } of chunksOf(task)) read += fuseRange({ ...task, start, end }, files);
  return read;
}

/**
 * Checks that bytes `[start, end)` are identical in every input and copies them to the output. Returns
 * the bytes read, or the first input (index ≥ 1) that differs from input 0 and the byte where it does.
 */
export function copyRange(task: CopyRangeTask, files = new FileCache()): RangeResult {
  const n = task.end - task.start;
  const step = Math.min(n, Math.max(MIN_STEP, STEP_BYTES));
  const buffer = scratchOf(2 * align8(step));
  const first = new Uint8Array(buffer, 0, step);
  const other = new Uint8Array(buffer, align8(step), step);
  let read = 0;
  for (let s = 0; s < n; s += step) {
    const m = Math.min(step, n - s);
    const a = first.subarray(0, m);
    const at = task.start + s;
    const x0 = task.inputs[0];
    files.with(x0.path, 'r', (fd) => readExactly(fd, a, x0.offset + at, x0.path));
    read += m;
    for (let j = 1; j < task.inputs.length; j++) {
      const b = other.subarray(0, m);
      const x = task.inputs[j];
      files.with(x.path, 'r', (fd) => readExactly(fd, b, x.offset + at, x.path));
      read += m;
      for (let i = 0; i < m; i++) {
        if (a[i] !== b[i]) return { bytesRead: read, differs: { input: j, byte: at + i } };
      }
    }
    files.with(task.out.path, 'r+', (fd) => writeOutput(fd, task.out.path, a, task.out.offset + at));
  }
  return { bytesRead: read };
}
