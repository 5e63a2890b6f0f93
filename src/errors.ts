/**
 * Error classes of mean-fusion. Each has a stable `name` and `code`, so callers (and code on the other side
 * of a worker boundary, where `instanceof` does not survive structured cloning) can match on them.
 */

/** Base class of every error this package throws on purpose. */
export class MeanFusionError extends Error {
  /** Stable machine-readable code, e.g. `'ERR_SHAPE_MISMATCH'`. */
  readonly code: string;

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MeanFusionError';
    this.code = code;
  }
}

/** Thrown when the list of tensors to fuse is empty (tinyBIG raises on an empty list too). */
export class EmptyInputError extends MeanFusionError {
  constructor(message = 'Expected `inputs` to be a non-empty array of tensors, got an empty array') {
    super(message, 'ERR_EMPTY_INPUT');
    this.name = 'EmptyInputError';
  }
}

/** Thrown when tensors that must share a shape do not; the message names the index and both shapes. */
export class ShapeMismatchError extends MeanFusionError {
  constructor(message: string) {
    super(message, 'ERR_SHAPE_MISMATCH');
    this.name = 'ShapeMismatchError';
  }
}

/** Thrown for data of an unsupported type (Float16Array, DataView, plain objects) or an unknown dtype name. */
export class DTypeError extends MeanFusionError {
  constructor(message: string) {
    super(message, 'ERR_DTYPE');
    this.name = 'DTypeError';
  }
}

/** Thrown when a tensor is malformed: `data.length` disagrees with `shape`, or a dimension is invalid. */
export class TensorError extends MeanFusionError {
  constructor(message: string) {
    super(message, 'ERR_TENSOR');
    this.name = 'TensorError';
  }
}

/** Thrown when an option is invalid: names the option, what was expected and what was given. */
export class OptionError extends MeanFusionError {
  constructor(message: string) {
    super(message, 'ERR_OPTION');
    this.name = 'OptionError';
  }
}

/**
 * Thrown when a file is not a valid NumPy `.npy` file this package can read (bad magic, unknown version,
 * malformed header, unsupported dtype or layout, size that disagrees with the file length, truncated data).
 * The message names the file and the problem.
 */
export class NpyFormatError extends MeanFusionError {
  /** The file at fault. */
  readonly file: string;

  constructor(file: string, problem: string, options?: ErrorOptions) {
    super(`${file}: ${problem}`, 'ERR_NPY_FORMAT', options);
    this.name = 'NpyFormatError';
    this.file = file;
  }
}

/** Thrown when an output file already exists and overwriting was not asked for; names the file. */
export class OutputExistsError extends MeanFusionError {
  /** The existing file, left untouched. */
  readonly file: string;

  constructor(file: string, hint = 'pass `overwrite: true` to replace it') {
    super(`${file} already exists; ${hint}`, 'ERR_OUTPUT_EXISTS');
    this.name = 'OutputExistsError';
    this.file = file;
  }
}

/** What Node's file system error codes mean, in words. */
const FILE_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on this system',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
};

/** Node's file system error in words, without the code and the path Node puts in its message. */
export function fileProblem(error: NodeJS.ErrnoException): string {
  const known = error.code === undefined ? undefined : FILE_PROBLEMS[error.code];
  return known ?? error.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
}

/**
 * Thrown when a file cannot be opened or read; the message names the file and the problem in words
 * (`nosuch.npy: no such file or directory (ENOENT)`). `code` stays Node's code (`'ENOENT'`, `'EACCES'`, …)
 * so programs can match it as they match Node's own errors; `cause` is Node's error.
 */
export class FileError extends MeanFusionError {
  /** The file at fault. */
  readonly file: string;

  constructor(file: string, cause: NodeJS.ErrnoException) {
    const code = cause.code ?? 'EIO';
    super(`${file}: ${fileProblem(cause)} (${code})`, code, { cause });
    this.name = 'FileError';
    this.file = file;
  }
}

/** Describes a value for error messages the way p-queue does: `` `0` (number) ``. */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return `\`'${value}'\` (string)`;
  if (typeof value === 'function') return `the function \`${value.name || '(anonymous)'}\``;
  if (typeof value === 'object' && value !== null)
    return `${value.constructor?.name ?? 'an object'} (object)`;
  return `\`${String(value)}\` (${typeof value})`;
}
