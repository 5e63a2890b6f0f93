// FreeRanges, the allocator's address-ordered treap of free ranges: against a plain sorted array (the
// independent model) under random sequences of adds, removes and queries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FreeRange, FreeRanges } from '../src/kernels/heap/free-ranges.js';

/** The model: ranges sorted by address, searched linearly. */
class Model {
  readonly ranges: FreeRange[] = [];
  add(at: number, bytes: number): void {
    this.ranges.push({ at, bytes });
    this.ranges.sort((a, b) => a.at - b.at);
  }
  remove(at: number): FreeRange | undefined {
    const i = this.ranges.findIndex((r) => r.at === at);
    return i < 0 ? undefined : this.ranges.splice(i, 1)[0];
  }
  firstFit(bytes: number): FreeRange | undefined {
    return this.ranges.find((r) => r.bytes >= bytes);
  }
  before(at: number): FreeRange | undefined {
    return this.ranges.filter((r) => r.at < at).pop();
  }
  after(at: number): FreeRange | undefined {
    return this.ranges.find((r) => r.at > at);
  }
  last(): FreeRange | undefined {
    return this.ranges[this.ranges.length - 1];
  }
}

describe('FreeRanges', () => {
  it('answers first fit, neighbours and the last range like a sorted array', () => {
    // Slots of 16 units: range j starts at 16·j and is 1..16 units long, so ranges never overlap.
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        slot: fc.nat(63),
        bytes: fc.integer({ min: 1, max: 16 }),
      }),
      fc.record({ kind: fc.constant('remove' as const), slot: fc.nat(63) }),
      fc.record({
        kind: fc.constant('query' as const),
        at: fc.nat(1100),
        bytes: fc.integer({ min: 1, max: 17 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const t = new FreeRanges();
        const m = new Model();
        for (const o of ops) {
          if (o.kind === 'add') {
            if (m.ranges.some((r) => r.at === 16 * o.slot)) continue;
            t.add(16 * o.slot, o.bytes);
            m.add(16 * o.slot, o.bytes);
          } else if (o.kind === 'remove') {
            expect(t.remove(16 * o.slot)).toEqual(m.remove(16 * o.slot));
          } else {
            expect(t.firstFit(o.bytes)).toEqual(m.firstFit(o.bytes));
            expect(t.before(o.at)).toEqual(m.before(o.at));
            expect(t.after(o.at)).toEqual(m.after(o.at));
          }
          expect(t.size).toBe(m.ranges.length);
          expect(t.last()).toEqual(m.last());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stays balanced over 200,000 adds in scattered order and their removes', () => {
    // A structural check, not a timing one: a degenerate (list-shaped) tree would overflow the stack in
    // the recursive split/merge at this size.
    const t = new FreeRanges();
    const n = 200_000;
    const order = Array.from({ length: n }, (_, i) => (i * 7919) % n);
    for (const i of order) t.add(64 * i, 32);
    expect(t.size).toBe(n);
    expect(t.firstFit(32)).toEqual({ at: 0, bytes: 32 });
    const wrong = order.filter((i) => t.remove(64 * i)?.at !== 64 * i);
    expect(wrong).toEqual([]);
    expect(t.size).toBe(0);
  });
});
