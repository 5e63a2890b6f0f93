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
 * Validates a shape and returns a frozen copy.
 *
 * @throws {TensorError} when `shape` is not an array or a dimension is not a non-negative safe integer.
 */
export function checkShape(shape: unknown, what = '`shape`'): readonly number[] {
  if (!Array.isArray(shape))
    throw new TensorError(`Expected ${what} to be an array of dimensions, got ${typeof shape}`);
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new TensorError(
        `Expected ${what}[${i}] to be a non-negative integer, got ${String(d)} (${typeof d})`,
      );
    }
  });
  return Object.freeze([...shape]);
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
