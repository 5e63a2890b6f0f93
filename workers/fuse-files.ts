/**
 * Worker entry of `fuseFiles`: reads one chunk of every input straight from its file (positioned reads),
 * swaps byte order where needed, runs the mean kernel and writes the chunk straight into the output file at
 * its offset. Imports only the kernel, the positioned I/O leaf and protocol types.
 */
import { closeSync, openSync } from 'node:fs';
import { readExactly, swapBytes, writeExactly } from '../src/io/npy/range.js';
import type { FuseFilesResult, FuseFilesTask } from '../src/jobs/protocol.js';
import { meanRange } from '../src/kernels/mean-range.js';
import { DTYPE_CTORS, type FloatDataArray, type TypedArray } from '../src/tensor/dtype.js';

/**
 * Input bytes (all k inputs together) read per step within a chunk: small enough that the step's inputs
 * are still in the core's L2 cache when the kernel reads them, so each input byte crosses main memory once
 * (page cache → cache) instead of three times (copy out, copy in, kernel read) with whole-chunk reads.
 */
const STEP_BYTES = 256 * 1024;

/**
 * Fewest elements per step: with many inputs (a stack of thousands of small images) an L2-sized step would
 * be a few elements, i.e. one read call per input per few elements. A step never exceeds the chunk, whose
 * size the planner already fitted into the memory budget.
 */
const MIN_STEP = 1024;

/** Keep at most this many input files open at once per task; beyond it each read opens and closes its file. */
const MAX_OPEN = 64;

/**
 * One scratch buffer per thread, grown on demand and reused by later chunks, so a job's memory is the
 * chunk budget per thread rather than a stream of garbage for the collector.
 */
let scratch = new ArrayBuffer(0);

function scratchOf(bytes: number): ArrayBuffer {
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(bytes);
  return scratch;
}

const align8 = (b: number) => Math.ceil(b / 8) * 8;

/**
 * Fuses elements `[start, end)` of the task's files into its output file; returns the input bytes read.
 * The chunk is computed in steps of {@link STEP_BYTES} of input into an output buffer written once.
 */
export default function fuseFilesChunk(task: FuseFilesTask): FuseFilesResult {
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
  const views: TypedArray[] = ctors.map((C) => {
    const v = new C(buffer, at, step);
    at += align8(step * C.BYTES_PER_ELEMENT);
    return v;
  });
  const fds = new Map<string, number>();
  try {
    // Thousands of distinct input files would exhaust the process's file descriptors across threads:
    // then each read opens and closes its file (-1 marks "open on demand").
    const paths = new Set(task.inputs.map((x) => x.path));
    const keepOpen = paths.size <= MAX_OPEN;
    const inFds = task.inputs.map((x) => {
      if (!keepOpen) return -1;
      let fd = fds.get(x.path);
      if (fd === undefined) {
        fd = openSync(x.path, 'r');
        fds.set(x.path, fd);
      }
      return fd;
    });
    let read = 0;
    for (let s = 0; s < n; s += step) {
      const m = Math.min(step, n - s);
      const first = task.start + s;
      const stepViews = views.map((v, j) => {
        const size = ctors[j].BYTES_PER_ELEMENT;
        const bytes = new Uint8Array(v.buffer, v.byteOffset, m * size);
        const x = task.inputs[j];
        const fd = inFds[j] >= 0 ? inFds[j] : openSync(x.path, 'r');
        try {
          readExactly(fd, bytes, x.offset + first * size, x.path);
        } finally {
          if (inFds[j] < 0) closeSync(fd);
        }
        if (x.swap) swapBytes(bytes, size);
        read += m * size;
        return m === step ? v : v.subarray(0, m);
      });
      meanRange(stepViews, out.subarray(s, s + m), 0, m, task.params);
    }
    const fd = openSync(task.out.path, 'r+');
    fds.set('\0out', fd);
    writeExactly(
      fd,
      new Uint8Array(buffer, 0, n * OutCtor.BYTES_PER_ELEMENT),
      task.out.offset + task.start * OutCtor.BYTES_PER_ELEMENT,
    );
    return read;
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}
