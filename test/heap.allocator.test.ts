// RangeAllocator, the kernel heap's bookkeeping: alignment, first-fit reuse, coalescing of freed neighbours,
// lowering of the top, refusal by `fits`, double free; and a model test over random alloc/free sequences.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEAP_ALIGN, RangeAllocator } from '../src/kernels/heap/range-allocator.js';

const BASE = 4096;
const always = () => true;

describe('RangeAllocator', () => {
  it('hands out addresses aligned to HEAP_ALIGN, sizes rounded up to at least one unit', () => {
    const a = new RangeAllocator(BASE);
    expect(a.top).toBe(BASE);
    expect(a.allocatedBytes).toBe(0);
    const x = a.allocate(1, always);
    const y = a.allocate(0, always);
    const z = a.allocate(HEAP_ALIGN + 1, always);
    const w = a.allocate(HEAP_ALIGN, always);
    expect([x, y, z, w]).toEqual([BASE, BASE + 64, BASE + 128, BASE + 256]);
    for (const at of [x, y, z, w]) expect(at % HEAP_ALIGN).toBe(0);
    expect(a.top).toBe(BASE + 320);
    expect(a.allocatedBytes).toBe(320);
  });

  it('reuses a freed range first-fit (the lowest free range that is large enough) without moving the top', () => {
    const a = new RangeAllocator(BASE);
    const r = [64, 256, 64, 256, 64].map((bytes) => a.allocate(bytes, always));
    const top = a.top;
    expect(a.free(r[1])).toBe(true);
    expect(a.free(r[3])).toBe(true);
    // Too large for either hole: goes to the top.
    const big = a.allocate(320, always);
    expect(big).toBe(top);
    // Fits both holes: takes the lower one, from its start; the rest of the hole stays free.
    expect(a.allocate(100, always)).toBe(r[1]);
    expect(a.allocate(128, always)).toBe(r[1] + 128);
    // The lower hole is full now: the next goes to the upper one.
    expect(a.allocate(64, always)).toBe(r[3]);
    expect(a.top).toBe(top + 320);
  });

  it('does not call `fits` when a free range is reused', () => {
    const a = new RangeAllocator(BASE);
    const x = a.allocate(128, always);
    a.allocate(64, always);
    a.free(x);
    let calls = 0;
    expect(
      a.allocate(128, () => {
        calls++;
        return false;
      }),
    ).toBe(x);
    expect(calls).toBe(0);
  });

  it('coalesces freed neighbours in every free order, so the merged range fits one allocation', () => {
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const order of orders) {
      const a = new RangeAllocator(BASE);
      const r = [64, 128, 192].map((bytes) => a.allocate(bytes, always));
      const fence = a.allocate(64, always); // keeps the freed ranges below the top
      const top = a.top;
      for (const i of order) expect(a.free(r[i])).toBe(true);
      expect(a.top).toBe(top);
      expect(a.allocatedBytes).toBe(64);
      // Only a single merged range of 384 bytes at r[0] can hold this without raising the top.
      expect(a.allocate(384, () => false)).toBe(r[0]);
      expect(a.top).toBe(top);
      expect(a.free(fence)).toBe(true);
    }
  });

  it('lowers the top when the highest range is freed, through every free range below it', () => {
    const a = new RangeAllocator(BASE);
    const r = [64, 64, 64, 64].map((bytes) => a.allocate(bytes, always));
    a.free(r[1]);
    expect(a.top).toBe(BASE + 256);
    a.free(r[3]);
    expect(a.top).toBe(BASE + 192);
    a.free(r[2]);
    // r[2] merges with the free r[1] and both end at the top.
    expect(a.top).toBe(BASE + 64);
    a.free(r[0]);
    expect(a.top).toBe(BASE);
    expect(a.allocatedBytes).toBe(0);
    // After lowering, the next allocation starts at the base again (and asks `fits` for the new top).
    const tops: number[] = [];
    expect(
      a.allocate(64, (t) => {
        tops.push(t);
        return true;
      }),
    ).toBe(BASE);
    expect(tops).toEqual([BASE + 64]);
  });

  it('returns -1 and changes nothing when `fits` refuses the new top', () => {
    const a = new RangeAllocator(BASE);
    const x = a.allocate(64, always);
    const tops: number[] = [];
    expect(
      a.allocate(1000, (t) => {
        tops.push(t);
        return false;
      }),
    ).toBe(-1);
    expect(tops).toEqual([BASE + 64 + 1024]);
    expect(a.top).toBe(BASE + 64);
    expect(a.allocatedBytes).toBe(64);
    // The refused address was not recorded: freeing it fails, and the next allocation gets it.
    expect(a.free(BASE + 64)).toBe(false);
    expect(a.allocate(64, always)).toBe(BASE + 64);
    expect(a.free(x)).toBe(true);
  });

  it('after a request no hole fitted, a hole grown by merging (or a new one) is found again', () => {
    const a = new RangeAllocator(0);
    const yes = () => true;
    const U = HEAP_ALIGN;
    const [p, q, r, s] = [U, U, U, U].map((b) => a.allocate(b, yes));
    a.allocate(U, yes); // keeps the top above s
    a.free(p);
    a.free(r);
    // Holes of one unit each: a two-unit request bumps the top (and learns that no hole fits).
    const bumped = a.allocate(2 * U, yes);
    expect(bumped).toBeGreaterThan(s);
    // Freeing q merges p, q, r into a three-unit hole, which the next two-unit request must use.
    a.free(q);
    expect(a.allocate(2 * U, yes)).toBe(p);
    // Freeing s makes a new two-unit hole (the rest of the merged hole plus s).
    a.free(s);
    expect(a.allocate(2 * U, yes)).toBe(p + 2 * U);
  });

  it('refuses a double free and a free of an address it never handed out', () => {
    const a = new RangeAllocator(BASE);
    const x = a.allocate(128, always);
    const y = a.allocate(64, always);
    expect(a.free(x)).toBe(true);
    expect(a.free(x)).toBe(false);
    expect(a.free(y + 64)).toBe(false);
    expect(a.free(x + 64)).toBe(false); // inside a free range
    expect(a.free(BASE - 64)).toBe(false);
    expect(a.allocatedBytes).toBe(64);
    expect(a.top).toBe(y + 64);
  });
});

type Op = { kind: 'alloc'; bytes: number; refuse: boolean } | { kind: 'free'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('alloc' as const),
    bytes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 5000 })),
    refuse: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
);

describe('RangeAllocator model', () => {
  it('never hands out overlapping live ranges; allocatedBytes is the sum of live sizes; top bounds them', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), fc.integer({ min: 0, max: 8 }), (ops, baseUnits) => {
        const base = baseUnits * HEAP_ALIGN;
        const a = new RangeAllocator(base);
        // The model: live ranges by address, and the addresses freed (for double-free checks).
        const live = new Map<number, number>();
        const gone = new Set<number>();
        // `fits` refuses any top above this limit (when the op says so), like a heap that cannot grow.
        let limit = Number.POSITIVE_INFINITY;
        for (const op of ops) {
          if (op.kind === 'alloc') {
            const size = Math.max(HEAP_ALIGN, Math.ceil(op.bytes / HEAP_ALIGN) * HEAP_ALIGN);
            limit = op.refuse ? a.top : Number.POSITIVE_INFINITY;
            const before = { top: a.top, bytes: a.allocatedBytes };
            const at = a.allocate(op.bytes, (t) => t <= limit);
            if (at === -1) {
              expect(op.refuse).toBe(true);
              expect(a.top).toBe(before.top);
              expect(a.allocatedBytes).toBe(before.bytes);
              continue;
            }
            expect(at % HEAP_ALIGN).toBe(0);
            expect(at).toBeGreaterThanOrEqual(base);
            for (const [b, s] of live) {
              if (at < b + s && b < at + size) throw new Error(`[${at}, +${size}) overlaps [${b}, +${s})`);
            }
            live.set(at, size);
            gone.delete(at);
          } else if (live.size > 0) {
            const addresses = [...live.keys()];
            const at = addresses[op.pick % addresses.length];
            expect(a.free(at)).toBe(true);
            live.delete(at);
            gone.add(at);
          }
          for (const at of gone) if (!live.has(at)) expect(a.free(at)).toBe(false);
          let sum = 0;
          let end = base;
          for (const [b, s] of live) {
            sum += s;
            end = Math.max(end, b + s);
          }
          expect(a.allocatedBytes).toBe(sum);
          // The top is exactly the end of the highest live range (a free range never ends at the top).
          expect(a.top).toBe(end);
        }
      }),
      { numRuns: 300 },
    );
  });
});
