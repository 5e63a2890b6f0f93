/**
 * The free ranges of the heap allocator: an address-ordered treap (a binary search tree kept balanced by
 * random priorities) whose nodes also hold the largest free size in their subtree, so that the lowest free
 * range of at least n bytes (first fit), a range's neighbours and the highest range are all found in
 * O(log n) expected time. A sorted array made freeing hundreds of thousands of scattered tensors quadratic
 * (13 s for 200,000 frees in random order).
 *
 * ## References
 * - Seidel, R., Aragon, C. R. (1996). Randomized search trees. Algorithmica 16, 464–497.
 */

interface Node {
  at: number;
  bytes: number;
  readonly priority: number;
  /** Largest `bytes` in this subtree. */
  max: number;
  left: Node | null;
  right: Node | null;
}

function update(n: Node): Node {
  n.max = Math.max(n.bytes, n.left?.max ?? 0, n.right?.max ?? 0);
  return n;
}

/** Splits `t` into the nodes with `at < key` and those with `at ≥ key`. */
function split(t: Node | null, key: number): [Node | null, Node | null] {
  if (t === null) return [null, null];
  if (t.at < key) {
    const [l, r] = split(t.right, key);
    t.right = l;
    return [update(t), r];
  }
  const [l, r] = split(t.left, key);
  t.left = r;
  return [l, update(t)];
}

/** Joins two treaps where every address in `a` is below every address in `b`. */
function merge(a: Node | null, b: Node | null): Node | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.priority > b.priority) {
    a.right = merge(a.right, b);
    return update(a);
  }
  b.left = merge(a, b.left);
  return update(b);
}

/** A free byte range. */
export interface FreeRange {
  readonly at: number;
  readonly bytes: number;
}

/** An address-ordered set of non-overlapping free ranges. */
export class FreeRanges {
  #root: Node | null = null;
  #count = 0;

  /** Number of ranges. */
  get size(): number {
    return this.#count;
  }

  /** Adds the range `[at, at + bytes)` (it must not overlap one already here). */
  add(at: number, bytes: number): void {
    const node: Node = { at, bytes, priority: Math.random(), max: bytes, left: null, right: null };
    const [l, r] = split(this.#root, at);
    this.#root = merge(merge(l, node), r);
    this.#count++;
  }

  /** Removes the range that starts at `at`, if any; returns it. */
  remove(at: number): FreeRange | undefined {
    const [l, rest] = split(this.#root, at);
    const [mid, r] = split(rest, at + 1);
    this.#root = merge(l, r);
    if (mid === null) return undefined;
    this.#count--;
    return { at: mid.at, bytes: mid.bytes };
  }

  /** The lowest-addressed range of at least `bytes` bytes, if any. */
  firstFit(bytes: number): FreeRange | undefined {
    let n = this.#root;
    if (n === null || n.max < bytes) return undefined;
    while (n !== null) {
      if (n.left !== null && n.left.max >= bytes) n = n.left;
      else if (n.bytes >= bytes) return { at: n.at, bytes: n.bytes };
      else n = n.right;
    }
    return undefined;
  }

  /** The range with the highest address below `at`, if any. */
  before(at: number): FreeRange | undefined {
    let best: Node | null = null;
    for (let n = this.#root; n !== null; ) {
      if (n.at < at) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best === null ? undefined : { at: best.at, bytes: best.bytes };
  }

  /** The range with the lowest address above `at`, if any. */
  after(at: number): FreeRange | undefined {
    let best: Node | null = null;
    for (let n = this.#root; n !== null; ) {
      if (n.at > at) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best === null ? undefined : { at: best.at, bytes: best.bytes };
  }

  /** The range with the highest address, if any. */
  last(): FreeRange | undefined {
    let n = this.#root;
    while (n?.right != null) n = n.right;
    return n === null ? undefined : { at: n.at, bytes: n.bytes };
  }
}
