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

/**
 * Thrown when a file is not a valid safetensors file (or sharded index) this package can read: a header
 * length that is absurd or past the end of the file, a header that is not UTF-8 JSON starting with `{`,
 * a tensor entry with a wrong `dtype`, `shape` or `data_offsets`, offsets with holes or overlaps, a data
 * area that disagrees with the file length, duplicate names, bad `__metadata__`. The message names the file
 * and, when one is at fault, the tensor.
 */
export class SafetensorsFormatError extends MeanFusionError {
  /** The file at fault. */
  readonly file: string;
  /** The tensor at fault, when the problem is one tensor's. */
  readonly tensor: string | undefined;

  constructor(file: string, problem: string, tensor?: string, options?: ErrorOptions) {
    super(
      `${file}: ${tensor === undefined ? '' : `tensor ${JSON.stringify(tensor)}: `}${problem}`,
      'ERR_SAFETENSORS_FORMAT',
      options,
    );
    this.name = 'SafetensorsFormatError';
    this.file = file;
    this.tensor = tensor;
  }
}

/**
 * Thrown when the checkpoints of a checkpoint average disagree: a tensor missing from an input or extra in
 * one, integer or bool tensors that differ, or dtypes that cannot be averaged together. The message names
 * the tensor and the files.
 */
export class CheckpointMismatchError extends MeanFusionError {
  /** The tensor at fault. */
  readonly tensor: string;

  constructor(tensor: string, problem: string) {
    super(`tensor ${JSON.stringify(tensor)}: ${problem}`, 'ERR_CHECKPOINT_MISMATCH');
    this.name = 'CheckpointMismatchError';
    this.tensor = tensor;
  }
}

/**
 * Thrown when a task of a file job fails in a worker thread; names the tensors (or ranges) it covered,
 * with the worker's error as `cause` (whose message names the file, e.g. for truncated data).
 */
export class TaskError extends MeanFusionError {
  /** What the task covered, e.g. tensor names. */
  readonly items: readonly string[];

  constructor(items: readonly string[], cause: unknown) {
    const shown =
      items.length > 3 ? `${items.slice(0, 3).join(', ')} and ${items.length - 3} more` : items.join(', ');
    super(`task for ${shown} failed: ${(cause as Error)?.message ?? String(cause)}`, 'ERR_TASK', { cause });
    this.name = 'TaskError';
    this.items = items;
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
