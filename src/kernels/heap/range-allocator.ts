/**
 * A first-fit allocator of byte ranges above a base address, with coalescing of freed neighbours. It only
 * does the bookkeeping; the kernel heap asks it for addresses and grows its memory to match.
 */

/** Bytes every allocation is aligned to (a cache line; also a multiple of every element size). */
export const HEAP_ALIGN = 64;

const align = (n: number) => Math.ceil(n / HEAP_ALIGN) * HEAP_ALIGN;

/** Bookkeeping of allocated and free ranges `[base, top)`; addresses are byte offsets. */
export class RangeAllocator {
  /** End of the highest range ever handed out and not given back (memory above it is unused). */
  #top: number;
  /** Free ranges below `#top`, sorted by address, never adjacent (they are merged on free). */
  readonly #free: { at: number; bytes: number }[] = [];
  /** Live allocations: address → size in bytes. */
  readonly #live = new Map<number, number>();
  /**
   * At least the size of the largest free range (exact after a scan that found no fit), so a request larger
   * than every hole skips the scan: without it, allocating past many small holes is quadratic.
   */
  #maxFree = 0;

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
    let sum = 0;
    for (const b of this.#live.values()) sum += b;
    return sum;
  }

  /**
   * Reserves `bytes` (rounded up to {@link HEAP_ALIGN}, at least one unit) and returns its address, or -1
   * when `fits(newTop)` refuses to provide memory up to the new top.
   */
  allocate(bytes: number, fits: (top: number) => boolean): number {
    const size = Math.max(HEAP_ALIGN, align(bytes));
    let largest = 0;
    for (let i = 0; size <= this.#maxFree && i < this.#free.length; i++) {
      const r = this.#free[i];
      largest = Math.max(largest, r.bytes);
      if (r.bytes < size) {
        if (i === this.#free.length - 1) this.#maxFree = largest;
        continue;
      }
      const at = r.at;
      if (r.bytes === size) this.#free.splice(i, 1);
      else {
        r.at += size;
        r.bytes -= size;
      }
      this.#live.set(at, size);
      return at;
    }
    const at = this.#top;
    if (!fits(at + size)) return -1;
    this.#top = at + size;
    this.#live.set(at, size);
    return at;
  }

  /** Gives back the range at `at`. Returns false (and does nothing) when `at` is not a live allocation. */
  free(at: number): boolean {
    const size = this.#live.get(at);
    if (size === undefined) return false;
    this.#live.delete(at);
    let lo = 0;
    let hi = this.#free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#free[mid].at < at) lo = mid + 1;
      else hi = mid;
    }
    const range = { at, bytes: size };
    this.#free.splice(lo, 0, range);
    this.#maxFree = Math.max(this.#maxFree, size);
    // Merge with the following, then the preceding free range.
    const next = this.#free[lo + 1];
    if (next !== undefined && range.at + range.bytes === next.at) {
      range.bytes += next.bytes;
      this.#free.splice(lo + 1, 1);
      this.#maxFree = Math.max(this.#maxFree, range.bytes);
    }
    const prev = this.#free[lo - 1];
    if (prev !== undefined && prev.at + prev.bytes === range.at) {
      prev.bytes += range.bytes;
      this.#free.splice(lo, 1);
      this.#maxFree = Math.max(this.#maxFree, prev.bytes);
    }
    // A free range that ends at the top lowers the top instead.
    const last = this.#free[this.#free.length - 1];
    if (last !== undefined && last.at + last.bytes === this.#top) {
      this.#top = last.at;
      this.#free.pop();
    }
    return true;
  }
}
