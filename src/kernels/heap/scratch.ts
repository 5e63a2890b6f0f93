/**
 * Per-call scratch regions of the kernel heap. A SIMD kernel call claims one region for its accumulator,
 * compensation terms, float32 output block, staging slots and address table, and releases it when it
 * returns. Claims are atomic words in the heap's header holding the claiming thread's id + 1, so any
 * thread attached to the heap (the main thread and every pool worker) can claim a region without a lock,
 * and the claims of a thread terminated inside a kernel call (an aborted pool task) can be given back by
 * the thread that manages it ({@link releaseClaimsOf}).
 */

/** Elements per kernel block. */
export const BLOCK = 4096;
/** Inputs per kernel group (the unrolled kernels take exactly this many; the others fewer). */
export const GROUP = 8;
/** Bytes of one float64 block. */
export const STRIDE = BLOCK * 8;

/** Byte offsets of the parts of a scratch region, relative to its start. */
export const SCRATCH = {
  /** float64 accumulator block. */
  acc: 0,
  /** float64 compensation block (float32 outputs). */
  cmp: STRIDE,
  /** float32 output block. */
  out: 2 * STRIDE,
  /** First of {@link GROUP} staging slots, {@link STRIDE} bytes apart. */
  slot0: 3 * STRIDE,
  /** Table of {@link GROUP} i32 input addresses. */
  table: (3 + GROUP) * STRIDE,
} as const;

/** Bytes of one scratch region (the table rounded up to a cache line). */
export const SCRATCH_BYTES = SCRATCH.table + 64;

/**
 * Scratch regions per heap: at most this many kernel calls run at once on one heap. A further concurrent
 * call (a pool of more threads than this) falls back to the scalar kernel, which gives the same bits.
 */
export const SCRATCH_REGIONS = 64;

/** Byte offset of the claim flags (one Int32 per region) inside the heap's header. */
export const CLAIMS_OFFSET = 64;

/**
 * Claims a free scratch region of the heap whose header is viewed by `header` (an Int32Array over the heap,
 * starting at byte 0) for the thread `threadId` (`worker_threads.threadId`: 0 on the main thread, never
 * reused in a process). Returns its index, or -1 when every region is in use.
 */
export function claimScratch(header: Int32Array, threadId: number): number {
  const first = CLAIMS_OFFSET / 4;
  for (let r = 0; r < SCRATCH_REGIONS; r++) {
    if (Atomics.compareExchange(header, first + r, 0, threadId + 1) === 0) return r;
  }
  return -1;
}

/** Releases a region claimed with {@link claimScratch}. */
export function releaseScratch(header: Int32Array, region: number): void {
  Atomics.store(header, CLAIMS_OFFSET / 4 + region, 0);
}

/**
 * Releases every region still claimed by thread `threadId`. Only for a thread that has stopped: a live
 * thread's region would be handed to another thread while in use. Returns the number released.
 */
export function releaseClaimsOf(header: Int32Array, threadId: number): number {
  const first = CLAIMS_OFFSET / 4;
  let released = 0;
  for (let r = 0; r < SCRATCH_REGIONS; r++) {
    if (Atomics.compareExchange(header, first + r, threadId + 1, 0) === threadId + 1) released++;
  }
  return released;
}
