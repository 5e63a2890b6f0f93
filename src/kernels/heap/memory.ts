/**
 * The kernel heap: a shared WebAssembly memory that the SIMD kernel reads tensors from in place.
 *
 * Each thread has one heap. The first thread to need one creates it; a worker started by a
 * {@link FusionPool} finds the main thread's heap in its `workerData` and attaches to it, so tensors
 * allocated there (`allocate(…, { heap: true })`) are read in place by every pool thread. Layout: a 64 KiB
 * header (a random heap id and the scratch claim flags), {@link SCRATCH_REGIONS} scratch regions, then
 * tensors, managed by the thread that created the heap (others never allocate from it).
 *
 * A tensor's memory goes back to the heap when its `data` array is garbage-collected (a
 * `FinalizationRegistry`), or at once with {@link freeHeapArray}.
 */
import { workerData } from 'node:worker_threads';
import { HEAP_ALIGN, RangeAllocator } from './range-allocator.js';
import { SCRATCH_BYTES, SCRATCH_REGIONS } from './scratch.js';

/** The `workerData` key under which a pool hands its heap to its workers. */
export const HEAP_WORKER_DATA_KEY = 'meanFusionKernelHeap';

/** WebAssembly page size, bytes. */
const PAGE = 65536;
/**
 * Largest heap: 65535 pages, one short of wasm32's 4 GiB. At exactly 2^32 bytes the i32 end address a
 * kernel loop computes for a block at the top wraps to 0, and Node 20 cannot send a 4 GiB
 * SharedArrayBuffer to a worker ("Unable to deserialize cloned data").
 */
const MAX_PAGES = 65535;
/** Bytes of the header page. */
const HEADER_BYTES = PAGE;
/** Words of the random heap id at the start of the header. */
const ID_WORDS = 4;
/** Header word that {@link heapAddress} increments to tell the live heap from a copy of its bytes. */
const PROBE_WORD = ID_WORDS;
/** First byte of the scratch regions. */
export const SCRATCH_BASE = HEADER_BYTES;
/** First byte available to tensors. */
const TENSOR_BASE = Math.ceil((SCRATCH_BASE + SCRATCH_REGIONS * SCRATCH_BYTES) / HEAP_ALIGN) * HEAP_ALIGN;

/** The part of `WebAssembly.Memory` used here (Node 20's types do not declare WebAssembly). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

interface WasmMemoryCtor {
  new (descriptor: { initial: number; maximum: number; shared: boolean }): WasmMemory;
}

const WasmMemoryClass = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } }).WebAssembly
  .Memory;

/** This thread's view of a heap. */
export interface KernelHeap {
  readonly memory: WasmMemory;
  /** Int32 view of the header (never detached: a shared memory only grows). */
  readonly header: Int32Array;
  /** The tensor allocator, on the thread that created the heap only. */
  readonly allocator: RangeAllocator | null;
}

let heap: KernelHeap | undefined;
/** Memory at and above this address has never been handed out, so it still holds zeros. */
let pristineFrom = 0;
/** Buffers known to be (or not to be) this thread's heap memory, by identity. */
const heapBuffers = new WeakSet<SharedArrayBuffer>();
const otherBuffers = new WeakSet<ArrayBufferLike>();

function isMemory(value: unknown): value is WasmMemory {
  return value instanceof WasmMemoryClass;
}

/** This thread's heap: attached from the pool's `workerData`, or created on first use. */
export function threadHeap(): KernelHeap {
  if (heap !== undefined) return heap;
  const given = (workerData as Record<string, unknown> | null | undefined)?.[HEAP_WORKER_DATA_KEY];
  if (isMemory(given)) {
    heap = { memory: given, header: new Int32Array(given.buffer, 0, HEADER_BYTES / 4), allocator: null };
  } else {
    const memory = new WasmMemoryClass({
      initial: Math.ceil(TENSOR_BASE / PAGE),
      maximum: MAX_PAGES,
      shared: true,
    });
    const header = new Int32Array(memory.buffer, 0, HEADER_BYTES / 4);
    crypto.getRandomValues(header.subarray(0, ID_WORDS));
    heap = { memory, header, allocator: new RangeAllocator(TENSOR_BASE) };
    pristineFrom = TENSOR_BASE;
  }
  heapBuffers.add(heap.memory.buffer);
  return heap;
}

/**
 * Byte address of `x`'s first element in this thread's heap, or -1 when `x` does not live in it.
 * A worker receives the heap's buffer as a new object with every task, so a buffer is recognised by its
 * contents: the heap's random id in its first bytes, then a probe that tells the live heap from a copy of
 * its bytes (a header word incremented through this thread's view must change in `x`'s buffer too). The
 * answer is cached per buffer object.
 */
export function heapAddress(x: ArrayBufferView): number {
  const buffer = x.buffer;
  if (heapBuffers.has(buffer as SharedArrayBuffer)) return x.byteOffset;
  if (otherBuffers.has(buffer) || !(buffer instanceof SharedArrayBuffer)) return -1;
  const h = threadHeap();
  let same = buffer.byteLength >= HEADER_BYTES;
  const words = same ? new Int32Array(buffer, 0, PROBE_WORD + 1) : undefined;
  for (let i = 0; i < ID_WORDS && words !== undefined && same; i++) same = words[i] === h.header[i];
  // Twice, so a copy made between an increment and its check cannot pass (other threads only increment).
  for (let probe = 0; probe < 2 && words !== undefined && same; probe++) {
    const mine = Atomics.add(h.header, PROBE_WORD, 1) + 1;
    // At least our value (other threads may have incremented since), modulo 2^32.
    same = ((Atomics.load(words, PROBE_WORD) - mine) | 0) >= 0;
  }
  if (same) heapBuffers.add(buffer);
  else otherBuffers.add(buffer);
  return same ? x.byteOffset : -1;
}

/** Frees heap ranges when the arrays that own them are collected. */
const registry = new FinalizationRegistry<number>((at) => {
  heap?.allocator?.free(at);
});

/**
 * Allocates `bytes` in this thread's heap and returns the heap's buffer (current size) and the address, or
 * `undefined` when this thread does not own its heap or the heap cannot grow (wasm32's 4 GiB limit).
 * The caller must {@link adoptHeapArray} the array it makes over the range.
 */
export function allocateInHeap(bytes: number): { buffer: SharedArrayBuffer; at: number } | undefined {
  const h = threadHeap();
  if (h.allocator === null) return undefined;
  const at = h.allocator.allocate(bytes, (top) => {
    const have = h.memory.buffer.byteLength;
    if (top <= have) return true;
    try {
      h.memory.grow(Math.ceil((top - have) / PAGE));
      return true;
    } catch {
      return false;
    }
  });
  if (at < 0) return undefined;
  const buffer = h.memory.buffer;
  heapBuffers.add(buffer);
  // Memory handed out before may hold old tensors: clear that part, as a fresh allocation would be zero.
  // Memory never handed out is zero already (and left untouched, so its pages are not faulted in here).
  const dirtyEnd = Math.min(at + bytes, pristineFrom);
  if (dirtyEnd > at) new Uint8Array(buffer, at, dirtyEnd - at).fill(0);
  pristineFrom = Math.max(pristineFrom, h.allocator.top);
  return { buffer, at };
}

/** Ties the heap range at `at` to `array`: the range is freed when `array` is garbage-collected. */
export function adoptHeapArray(array: ArrayBufferView, at: number): void {
  registry.register(array, at, array);
}

/**
 * Gives `array`'s heap range back at once instead of at garbage collection. Returns false when `array` is
 * not an array that {@link adoptHeapArray} registered (then nothing happens). The array and every view of
 * its range must not be used afterwards: the range will hold other tensors.
 */
export function freeHeapArray(array: ArrayBufferView): boolean {
  if (!registry.unregister(array)) return false;
  return threadHeap().allocator?.free(array.byteOffset) ?? false;
}

/** Bytes currently allocated to tensors in this thread's heap (0 on a thread that does not own it). */
export function heapAllocatedBytes(): number {
  return threadHeap().allocator?.allocatedBytes ?? 0;
}
