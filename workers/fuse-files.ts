/**
 * Worker entry of `fuseFiles`: reads one chunk of every input straight from its file (positioned reads),
 * swaps byte order where needed, runs the mean kernel and writes the chunk straight into the output file at
 * its offset. Imports only the kernel, the positioned I/O leaf and protocol types.
 */
import { closeSync, openSync } from 'node:fs';
import { readExactly, swapBytes, writeExactly } from '../src/io/npy/range.js';
import type { FuseFilesResult, FuseFilesTask } from '../src/jobs/protocol.js';
import { meanRange } from '../src/kernels/mean-range.js';
import { DTYPE_CTORS, type FloatArray, type TypedArray } from '../src/tensor/dtype.js';

/**
 * One scratch buffer per thread, grown on demand and reused by later chunks, so a job's memory is the
 * chunk budget per thread rather than a stream of garbage for the collector.
 */
let scratch = new ArrayBuffer(0);

function scratchOf(bytes: number): ArrayBuffer {
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(bytes);
  return scratch;
}

/** Fuses elements `[start, end)` of the task's files into its output file; returns the input bytes read. */
export default function fuseFilesChunk(task: FuseFilesTask): FuseFilesResult {
  const n = task.end - task.start;
  const outCtor = DTYPE_CTORS[task.out.dtype];
  // Each view starts at a multiple of 8 bytes so every typed array is aligned.
  const sizes = task.inputs.map((x) => DTYPE_CTORS[x.dtype].BYTES_PER_ELEMENT * n);
  const align = (b: number) => Math.ceil(b / 8) * 8;
  const total = sizes.reduce((s, b) => s + align(b), align(outCtor.BYTES_PER_ELEMENT * n));
  const buffer = scratchOf(total);
  const fds = new Map<string, number>();
  try {
    let at = 0;
    let read = 0;
    const views: TypedArray[] = task.inputs.map((x, j) => {
      let fd = fds.get(x.path);
      if (fd === undefined) {
        fd = openSync(x.path, 'r');
        fds.set(x.path, fd);
      }
      const Ctor = DTYPE_CTORS[x.dtype];
      const bytes = new Uint8Array(buffer, at, sizes[j]);
      readExactly(fd, bytes, x.offset + task.start * Ctor.BYTES_PER_ELEMENT, x.path);
      if (x.swap) swapBytes(bytes, Ctor.BYTES_PER_ELEMENT);
      read += sizes[j];
      const view = new Ctor(buffer, at, n);
      at += align(sizes[j]);
      return view;
    });
    const out = new outCtor(buffer, at, n) as FloatArray;
    meanRange(views, out, 0, n, task.params);
    const fd = openSync(task.out.path, 'r+');
    fds.set(`\0out`, fd);
    writeExactly(
      fd,
      new Uint8Array(buffer, at, n * outCtor.BYTES_PER_ELEMENT),
      task.out.offset + task.start * outCtor.BYTES_PER_ELEMENT,
    );
    return read;
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}
