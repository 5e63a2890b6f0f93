/** Shape helpers: validation, element counts, comparison and formatting (row-major, C order). */
import { TensorError } from '../errors.js';

/** Formats a shape the way numpy prints it: `(2, 3)`, `(5,)`, `()`. */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Number of elements of a tensor of this shape (1 for a 0-d shape). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Shapes this module validated and froze: frozen arrays of plain data properties, so they can never change
 * and {@link checkShape} returns them as they are (a stream of tensors made by `tensor()` re-checks nothing).
 */
const checkedShapes = new WeakSet<readonly number[]>();

/** True when `shape` is a frozen copy made by {@link checkShape} (valid, and unchangeable). */
export function isCheckedShape(shape: unknown): shape is readonly number[] {
  return typeof shape === 'object' && shape !== null && checkedShapes.has(shape as readonly number[]);
}

/**
 * Validates a shape and returns a frozen copy (or the shape itself when it is such a copy already).
 *
 * @throws {TensorError} when `shape` is not an array or a dimension is not a non-negative safe integer.
 */
export function checkShape(shape: unknown, what = '`shape`'): readonly number[] {
  if (!Array.isArray(shape))
    throw new TensorError(`Expected ${what} to be an array of dimensions, got ${typeof shape}`);
  if (checkedShapes.has(shape)) return shape;
  const copy: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new TensorError(
        `Expected ${what}[${i}] to be a non-negative integer, got ${String(d)} (${typeof d})`,
      );
    }
    copy.push(d);
  }
  const frozen = Object.freeze(copy);
  checkedShapes.add(frozen);
  return frozen;
}

/** True when both shapes have the same rank and dimensions. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Elements per row: the product of every dimension after the first (1 for rank 0 and 1). */
export function rowSize(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shapeSize(shape.slice(1));
}

/** Rows along the first axis (a 0-d tensor counts as one row of one element). */
export function rowCount(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[0];
}
