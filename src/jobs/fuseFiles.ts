/**
 * `fuseFiles`: the out-of-core mean fusion of k arrays stored in NumPy `.npy` files, on the pool's worker
 * threads, in bounded memory, into an output `.npy` that appears atomically.
 *
 * The calling thread reads only the headers, validates, plans chunks of rows and tracks them through the
 * plan runner (`run-plan.ts`, on the RxJS chunk pipeline `runChunks$`); each worker reads its chunk of every input straight from the files
 * (positioned reads), computes it with the same kernel as `meanFusion` and writes it straight into the
 * output file at its offset. Each input byte is read once.
 */

import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { Observable } from 'rxjs';
import { describe, EmptyInputError, OptionError, ShapeMismatchError } from '../errors.js';
import { type MeanFusionOptions, resolveOptions } from '../fusion/options.js';
import { resultDType } from '../fusion/validate.js';
import type { NpyHeader } from '../io/npy/header.js';
import { readNpyHeader } from '../io/npy/read.js';
import { createNpyFile, type NpyFileWriter } from '../io/npy/write.js';
import { halfDTypes, type MeanKernelParams } from '../kernels/params.js';
import { ChunkError } from '../pool/errors.js';
import { FusionPool } from '../pool/FusionPool.js';
import { linkSignal } from '../pool/linked-signal.js';
import { planChunks, type RowRange } from '../pool/plan.js';
import { type FloatDType, itemSize } from '../tensor/dtype.js';
import { formatShape, rowCount, rowSize, sameShape, shapeSize } from '../tensor/shape.js';
import type { FileSlice } from './protocol.js';
import { type PlannedTask, runPlan } from './run-plan.js';

/** Default `memoryLimit`: 512 MiB. */
export const DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024;

/**
 * Largest chunk task (input bytes read plus output bytes written) when the memory limit allows it: 16 MiB.
 * Big enough that a chunk's syscalls and thread hand-off cost next to nothing; small enough that an aborted
 * chunk (whose thread is terminated) wastes little and that 2 threads get many chunks of a 2 GB job.
 */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** Options of {@link fuseFiles}: those of `meanFusion` (without `out`) plus the job's own. */
export interface FuseFilesOptions extends Omit<MeanFusionOptions, 'out'> {
  /**
   * Read one `.npy` whose first axis enumerates the k tensors (e.g. a `(k, 28, 28)` stack of frames)
   * instead of one tensor per file. `inputs` must then name exactly one file.
   * @default false
   */
  stacked?: boolean;
  /**
   * Worker threads and chunks in flight (ignored when `pool` is given: the pool's thread count is used).
   * @default os.availableParallelism()
   */
  threads?: number;
  /** Rows (along the first axis of one tensor) per chunk, forcing the split; must fit `memoryLimit`. */
  chunkRows?: number;
  /**
   * Bytes of memory the job may use. The chunk buffers in flight (threads × (k inputs + output) chunk
   * bytes) are kept under half of it; the other half is headroom for the runtime and the threads.
   * @default DEFAULT_MEMORY_LIMIT (512 MiB)
   */
  memoryLimit?: number;
  /** Aborting stops the job: running chunks are stopped, the temporary file removed, the target untouched. */
  signal?: AbortSignal;
  /**
   * Replace an existing file at `output`.
   * @default false
   */
  overwrite?: boolean;
  /** Run on this pool (left open) instead of a pool created, and closed, for the job. */
  pool?: FusionPool;
}

/** A progress event of {@link fuseFiles}, emitted after each chunk is written. */
export interface FuseFilesProgress {
  /** Rows (along the first axis of one tensor) fully written so far. */
  readonly rowsDone: number;
  /** Rows of the output (1 for a 0-d output). */
  readonly rows: number;
  /** Input bytes read so far. */
  readonly bytesRead: number;
  /** Input bytes the job reads in all. */
  readonly bytesTotal: number;
  /** Seconds since the job started. */
  readonly elapsed: number;
}

/** What {@link fuseFilesAsync} resolves to once the output is in place. */
export interface FuseFilesSummary {
  /** The output file (as given). */
  readonly output: string;
  /** Shape of the output (= the shape of one input tensor). */
  readonly shape: readonly number[];
  /** dtype of the output. */
  readonly dtype: FloatDType;
  /** Number of tensors fused. */
  readonly k: number;
  /** Input bytes read. */
  readonly bytesRead: number;
  /** Bytes of the output file (header and data). */
  readonly bytesWritten: number;
  /** Seconds the job took. */
  readonly seconds: number;
}

/** A validated job: where the k tensors are, the output's shape and dtype, the kernel parameters. */
interface FilesPlan {
  readonly slices: readonly FileSlice[];
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly params: MeanKernelParams;
}

function integer(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new OptionError(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  return value;
}

/** Reads every header and checks inputs, shapes and options, as `planFusion` does for in-memory tensors. */
async function planFiles(inputs: unknown, options: FuseFilesOptions): Promise<FilesPlan> {
  const paths = typeof inputs === 'string' ? [inputs] : inputs;
  if (!Array.isArray(paths)) {
    throw new OptionError(`Expected \`inputs\` to be an array of .npy paths, got ${describe(inputs)}`);
  }
  paths.forEach((p, i) => {
    if (typeof p !== 'string' || p === '') {
      throw new OptionError(`Expected \`inputs[${i}]\` to be a .npy file path, got ${describe(p)}`);
    }
  });
  if (paths.length === 0) {
    throw new EmptyInputError('Expected `inputs` to name at least one .npy file, got an empty array');
  }
  const headers: NpyHeader[] = [];
  for (const p of paths as string[]) headers.push(await readNpyHeader(p));
  let slices: FileSlice[];
  let shape: readonly number[];
  if (options.stacked === true) {
    if (headers.length !== 1) {
      throw new OptionError(
        `Expected one stacked .npy file with \`stacked: true\`, got ${headers.length} files`,
      );
    }
    const h = headers[0];
    if (h.shape.length === 0 || h.shape[0] === 0) {
      throw new EmptyInputError(
        `${h.file} has shape ${formatShape(h.shape)}: a stacked file needs a first axis of length k ≥ 1`,
      );
    }
    shape = Object.freeze(h.shape.slice(1));
    const bytes = shapeSize(shape) * h.itemSize;
    slices = Array.from({ length: h.shape[0] }, (_, j) => ({
      path: h.file,
      offset: h.dataOffset + j * bytes,
      dtype: h.dtype,
      swap: h.swap,
    }));
  } else {
    shape = headers[0].shape;
    headers.forEach((h, i) => {
      if (!sameShape(h.shape, shape)) {
        throw new ShapeMismatchError(
          `${h.file} (inputs[${i}]) has shape ${formatShape(h.shape)} but ${headers[0].file} (inputs[0]) has shape ${formatShape(shape)}; all inputs must share one shape`,
        );
      }
    });
    slices = headers.map((h) => ({ path: h.file, offset: h.dataOffset, dtype: h.dtype, swap: h.swap }));
  }
  const resolved = resolveOptions(options, slices.length);
  const dtype = resolved.dtype ?? resultDType(slices);
  const half = halfDTypes(
    slices.map((x) => x.dtype),
    dtype,
  );
  const params: MeanKernelParams = { weights: resolved.weights, nanOmit: resolved.nanOmit };
  return { slices, shape, dtype, params: half === undefined ? params : { ...params, half } };
}

/** Element ranges `[start, end)` of one tensor, each a task. */
function planRanges(
  plan: FilesPlan,
  threads: number,
  memoryLimit: number,
  chunkRows: number | undefined,
): RowRange[] {
  const rows = rowCount(plan.shape);
  const width = rowSize(plan.shape);
  const elements = shapeSize(plan.shape);
  if (elements === 0) return [];
  const bytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), itemSize(plan.dtype));
  const perTask = Math.min(MAX_CHUNK_BYTES, Math.floor(memoryLimit / 2 / threads));
  if (perTask < bytesPerElement) {
    throw new OptionError(
      `\`memoryLimit\` ${memoryLimit} is too small: ${threads} thread(s) need at least ${2 * threads * bytesPerElement} bytes`,
    );
  }
  const rowBytes = width * bytesPerElement;
  if (chunkRows !== undefined) {
    if (chunkRows * rowBytes * threads > memoryLimit / 2) {
      throw new OptionError(
        `\`chunkRows\` ${chunkRows} needs ${chunkRows * rowBytes} bytes per chunk; with ${threads} thread(s) that exceeds half of \`memoryLimit\` (${memoryLimit} bytes)`,
      );
    }
    return planChunks(rows, rowBytes, { chunkRows, threads }).map((c) => ({
      start: c.start * width,
      end: c.end * width,
    }));
  }
  if (rowBytes <= perTask) {
    return planChunks(rows, rowBytes, { chunkBytes: perTask, threads }).map((c) => ({
      start: c.start * width,
      end: c.end * width,
    }));
  }
  // One row is over the budget: split the flat elements instead (C order makes them contiguous).
  return planChunks(elements, bytesPerElement, { chunkBytes: perTask, threads });
}

/** Runs a whole job; reports progress through `onProgress`; removes the temporary file on any failure. */
async function runJob(
  inputs: string[] | string,
  output: string,
  options: FuseFilesOptions,
  onProgress: (p: FuseFilesProgress) => void,
  signal: AbortSignal | undefined,
): Promise<FuseFilesSummary> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  if (typeof output !== 'string' || output === '') {
    throw new OptionError(`Expected \`output\` to be a .npy file path, got ${describe(output)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new OptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`);
  }
  if ('out' in options && options.out !== undefined) {
    throw new OptionError('`out` is not an option of fuseFiles: the output is the `output` file');
  }
  const pool = options.pool;
  if (pool !== undefined && !(pool instanceof FusionPool)) {
    throw new OptionError(`Expected \`pool\` to be a FusionPool, got ${describe(pool)}`);
  }
  const threads = pool?.threads ?? integer(options.threads ?? availableParallelism(), 'threads', 1);
  const memoryLimit = integer(options.memoryLimit ?? DEFAULT_MEMORY_LIMIT, 'memoryLimit', 1);
  const chunkRows = options.chunkRows === undefined ? undefined : integer(options.chunkRows, 'chunkRows', 1);
  signal?.throwIfAborted();
  const plan = await planFiles(inputs, options);
  const target = resolvePath(output);
  if (plan.slices.some((s) => resolvePath(s.path) === target) && options.overwrite !== true) {
    // Reported before the generic "exists" message, which would not say why.
    throw new OptionError(
      `\`output\` ${output} is one of the inputs; pass \`overwrite: true\` to replace it`,
    );
  }
  const ranges = planRanges(plan, threads, memoryLimit, chunkRows);
  signal?.throwIfAborted();
  const writer = await createNpyFile(output, plan.dtype, plan.shape, { overwrite: options.overwrite });
  const ownPool = pool === undefined && ranges.length > 0 ? new FusionPool({ threads }) : undefined;
  const inputBytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), 0);
  const width = Math.max(rowSize(plan.shape), 1);
  const rows = rowCount(plan.shape);
  const bytesTotal = shapeSize(plan.shape) * inputBytesPerElement;
  try {
    const bytesRead = await runChunks(
      ownPool ?? (pool as FusionPool),
      plan,
      writer,
      ranges,
      threads,
      signal,
      (done, read) =>
        onProgress({
          rowsDone: Math.floor(done / width),
          rows,
          bytesRead: read,
          bytesTotal,
          elapsed: elapsed(),
        }),
    );
    signal?.throwIfAborted();
    await writer.commit();
    return {
      output,
      shape: plan.shape,
      dtype: plan.dtype,
      k: plan.slices.length,
      bytesRead,
      bytesWritten: writer.dataOffset + writer.dataBytes,
      seconds: elapsed(),
    };
  } catch (error) {
    await writer.discard();
    throw error;
  } finally {
    await ownPool?.close();
  }
}

/**
 * Sends every range to the pool as a one-range plan task (the plan runner of `run-plan.ts`, shared with
 * `fuseCheckpoints`); resolves with the bytes read once all are written. A failed task is a ChunkError.
 */
function runChunks(
  pool: FusionPool,
  plan: FilesPlan,
  writer: NpyFileWriter,
  ranges: readonly RowRange[],
  concurrency: number,
  signal: AbortSignal | undefined,
  onChunk: (elementsDone: number, bytesRead: number) => void,
): Promise<number> {
  const out = { path: writer.tempPath, offset: writer.dataOffset, dtype: plan.dtype };
  const rows = rowCount(plan.shape);
  const width = Math.max(rowSize(plan.shape), 1);
  const tasks: PlannedTask[] = ranges.map((range) => ({
    task: {
      ranges: [
        { kind: 'mean', inputs: plan.slices, out, start: range.start, end: range.end, params: plan.params },
      ],
    },
    labels: [`rows ${Math.floor(range.start / width)}–${Math.ceil(range.end / width)}`],
  }));
  let done = 0;
  let read = 0;
  return runPlan(
    pool,
    tasks,
    concurrency,
    signal,
    (planned, results) => {
      const r = planned.task.ranges[0];
      done += r.end - r.start;
      read += results[0].bytesRead;
      onChunk(done, read);
    },
    (planned, error) => {
      const r = planned.task.ranges[0];
      return new ChunkError(Math.floor(r.start / width), Math.ceil(r.end / width), rows, error);
    },
  ).then(() => read);
}

/**
 * Element-wise mean fusion of k arrays stored in `.npy` files, written to the `.npy` file `output`, with
 * the semantics and the exact bits of `meanFusion` on the same data, for any thread count and chunk size.
 *
 * Inputs are any supported dtype in either byte order (`b1` reads as uint8), any rank (0-d and zero-length
 * dimensions included), C order. The output is C order in the machine's byte order: float32 when every
 * input is float32, else float64 (or `dtype`). It is written to a temporary file beside `output`, flushed
 * and renamed into place: on any error or abort the temporary file is removed and an existing `output` is
 * left untouched.
 *
 * The returned Observable is cold: each subscription runs the job, emits a {@link FuseFilesProgress} after
 * every chunk and completes once `output` is in place; unsubscribing aborts the job.
 *
 * Errors (delivered through the Observable):
 * @throws {EmptyInputError} when `inputs` is empty, or a stacked file's first axis is 0.
 * @throws {ShapeMismatchError} when two input files have different shapes (names both files).
 * @throws {NpyFormatError} when an input is not a valid `.npy` (names the file and the problem).
 * @throws {OptionError} for bad `weights`/`nan`/`dtype` (as `meanFusion`), a `threads`, `chunkRows` or
 *   `memoryLimit` that is not a positive integer, a `memoryLimit` too small for one element per thread or
 *   for `chunkRows`, `stacked` with more than one file, a bad `signal` or `pool`, or `output` naming an input.
 * @throws {OutputExistsError} when `output` exists and `overwrite` is not true.
 * @throws {ChunkError} when a chunk fails in a worker (names the rows and, in its message, the file).
 * @throws {unknown} `signal.reason` when `signal` aborts.
 * @throws {Error} Node's file system errors (`ENOENT`, `EACCES`, `ENOSPC`, …) naming the file.
 *
 * ## References
 * - NumPy Enhancement Proposal 1 (the `.npy` format); tinyBIG `mean_fusion` (the semantics).
 */
export function fuseFiles(
  inputs: string[] | string,
  output: string,
  options: FuseFilesOptions = {},
): Observable<FuseFilesProgress> {
  return new Observable<FuseFilesProgress>((subscriber) => {
    const link = linkSignal(options?.signal);
    const signal = link.usable ? link.signal : (options?.signal as AbortSignal);
    runJob(inputs, output, options, (p) => subscriber.next(p), signal).then(
      () => subscriber.complete(),
      (error: unknown) => subscriber.error(error),
    );
    return () => link.cancel(new DOMException('The fuseFiles subscription was cancelled', 'AbortError'));
  });
}

/**
 * {@link fuseFiles} as a Promise: resolves with a summary once `output` is in place, rejects (after the
 * temporary file is removed) with the errors listed there.
 *
 * @param onProgress - Called after every chunk.
 */
export async function fuseFilesAsync(
  inputs: string[] | string,
  output: string,
  options: FuseFilesOptions = {},
  onProgress?: (progress: FuseFilesProgress) => void,
): Promise<FuseFilesSummary> {
  return runJob(inputs, output, options, onProgress ?? (() => {}), options?.signal);
}
