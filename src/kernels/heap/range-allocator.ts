/**
 * A first-fit allocator of byte ranges above a base address, with coalescing of freed neighbours. It only
 * does the bookkeeping; the kernel heap asks it for addresses and grows its memory to match.
 */

import { FreeRanges } from './free-ranges.js';

/** Bytes every allocation is aligned to (a cache line; also a multiple of every element size). */
export const HEAP_ALIGN = 64;

const align = (n: number) => Math.ceil(n / HEAP_ALIGN) * HEAP_ALIGN;

/** Bookkeeping of allocated and free ranges `[base, top)`; addresses are byte offsets. */
export class RangeAllocator {
  /** End of the highest range ever handed out and not given back (memory above it is unused). */
  #top: number;
  /** Free ranges below `#top`, never adjacent (they are merged on free). */
  readonly #free = new FreeRanges();
  /** Live allocations: address → size in bytes. */
  readonly #live = new Map<number, number>();
  #allocated = 0;

  /** @param base - First address that may be handed out (a multiple of {@link HEAP_ALIGN}). */
  constructor(readonly base: number) {
    this.#top = base;
  }

  /** End of the used address range: the memory must be at least this large. */
  get top(): number {
    return this.#top;
  }

  /** Bytes currently allocated (after alignment). */
  get allocatedBytes(): number {
    return this.#allocated;
  }

  /**
   * Reserves `bytes` (rounded up to {@link HEAP_ALIGN}, at least one unit) and returns its address: the
   * lowest free range that fits (first fit), else at the top, or -1 when `fits(newTop)` refuses to provide
   * memory up to the new top. O(log n) expected in the number of free ranges.
   */
  allocate(bytes: number, fits: (top: number) => boolean): number {
    const size = Math.max(HEAP_ALIGN, align(bytes));
    const hole = this.#free.firstFit(size);
    let at: number;
    if (hole !== undefined) {
      at = hole.at;
      this.#free.remove(at);
      if (hole.bytes > size) this.#free.add(at + size, hole.bytes - size);
    } else {
      at = this.#top;
      if (!fits(at + size)) return -1;
      this.#top = at + size;
    }
    this.#live.set(at, size);
    this.#allocated += size;
    return at;
  }

  /** Gives back the range at `at`. Returns false (and does nothing) when `at` is not a live allocation. */
  free(at: number): boolean {
    const size = this.#live.get(at);
    if (size === undefined) return false;
    this.#live.delete(at);
    this.#allocated -= size;
    let start = at;
    let end = at + size;
    // Merge with the free neighbours on either side.
    const prev = this.#free.before(at);
    if (prev !== undefined && prev.at + prev.bytes === start) {
      this.#free.remove(prev.at);
      start = prev.at;
    }
    const next = this.#free.after(at);
    if (next !== undefined && next.at === end) {
      this.#free.remove(next.at);
      end = next.at + next.bytes;
    }
    // A free range that ends at the top lowers the top instead.
    if (end === this.#top) this.#top = start;
    else this.#free.add(start, end - start);
    return true;
  }
}
