/** Argument checks shared by the file jobs (`fuseFiles`, `fuseFilesCluster`). */
import { describe, OptionError } from '../errors.js';

/**
 * Checks a file job's `output`, `options` and `signal`.
 *
 * @param job - The job's name for messages (`fuseFiles`, `fuseFilesCluster`).
 * @throws {OptionError} when `options` is not an object, `output` is not a non-empty path, `signal` is not
 *   an AbortSignal, or `options.out` is given (a file job's output is its `output` file).
 */
export function checkJobArgs(job: string, output: unknown, options: unknown, signal: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  if (typeof output !== 'string' || output === '') {
    throw new OptionError(`Expected \`output\` to be a .npy file path, got ${describe(output)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new OptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`);
  }
  if ('out' in options && (options as { out?: unknown }).out !== undefined) {
    throw new OptionError(`\`out\` is not an option of ${job}: the output is the \`output\` file`);
  }
}
