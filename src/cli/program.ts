/** The command line's options, declared once with commander: parsing only, no work. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isRedisUrl } from '../jobs/cluster/connection.js';
import { parseSize } from './size.js';

/** What a parsed command line asks for. */
export interface CliConfig {
  readonly inputs: string[];
  readonly output: string;
  readonly weights?: number[];
  readonly nan?: 'propagate' | 'omit';
  /** `--exact`: every element the value of the output dtype nearest the exact mean. */
  readonly exact: boolean;
  readonly dtype?: 'float32' | 'float64' | 'float16' | 'bfloat16';
  readonly stacked: boolean;
  readonly include?: string[];
  readonly exclude?: string[];
  readonly maxShardSize?: number;
  readonly threads?: number;
  readonly chunkRows?: number;
  readonly memoryLimit?: number;
  readonly force: boolean;
  /** `undefined`: a bar only when stderr is a TTY; `false`: never. A bar is never drawn on a pipe. */
  readonly progress?: boolean;
  readonly json: boolean;
  readonly debug: boolean;
  /** `--cluster`: the Redis URL of a BullMQ cluster of `mean-fusion worker` processes. */
  readonly cluster?: string;
  readonly queue?: string;
  readonly shards?: number;
  readonly attempts?: number;
}

export function positiveInteger(text: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('Expected an integer from 1 and up.');
  }
  return n;
}

export function size(text: string): number {
  const n = parseSize(text);
  if (n === undefined) {
    throw new InvalidArgumentError('Expected a size such as 512MB, 1GiB or 1048576 (bytes).');
  }
  return n;
}

export function redisUrl(text: string): string {
  if (!isRedisUrl(text)) {
    throw new InvalidArgumentError('Expected a Redis URL such as redis://127.0.0.1:6379.');
  }
  return text;
}
/** A decimal number: digits with an optional sign, point and exponent; no spaces, hex, `Infinity` or `NaN`. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function weightList(text: string): number[] {
  const parts = text.split(',');
  const weights = parts.map((p) => (DECIMAL.test(p) ? Number(p) : Number.NaN));
  const bad = weights.findIndex((w) => !Number.isFinite(w));
  if (bad >= 0) {
    throw new InvalidArgumentError(
      `Expected comma-separated finite decimal numbers without spaces (e.g. 1,2.5,3e-2); item ${bad + 1} is ${JSON.stringify(parts[bad])}.`,
    );
  }
  return weights;
}

function patternList(text: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...text.split(',').filter((p) => p !== '')];
}

/**
 * Builds the `mean-fusion` command. It does not exit: commander errors are thrown as `CommanderError`
 * (after commander printed its one-line message through `writeErr`).
 */
export function createProgram(
  version: string,
  out: { writeOut(s: string): void; writeErr(s: string): void },
): Command {
  return new Command()
    .name('mean-fusion')
    .description(
      'Element-wise mean of k same-shape NumPy .npy arrays, written to a new .npy file, or of k model ' +
        'checkpoints (safetensors files, sharded index files or directories), written as safetensors; ' +
        'out of core and multithreaded. The output appears atomically: never half-written, never left ' +
        'behind on error.',
    )
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .argument('<inputs...>', 'input .npy files (one stacked file with --stacked), or checkpoints')
    .requiredOption(
      '-o, --output <file>',
      'output .npy file, or .safetensors file or directory for checkpoints',
    )
    .option('-w, --weights <list>', 'comma-separated weights, one per input (weighted mean)', weightList)
    .addOption(
      new Option('--nan <policy>', 'NaN inputs: propagate (mean) or omit (nanmean)').choices([
        'propagate',
        'omit',
      ]),
    )
    .addOption(
      new Option(
        '--dtype <dtype>',
        "output dtype (default: the inputs' if all are float32, all float16 or all bfloat16; float32 if float16 and bfloat16 mix; else float64)",
      ).choices(['float32', 'float64', 'float16', 'bfloat16']),
    )
    .option('--exact', 'exactly rounded means: the output dtype value nearest the exact mean, for any data')
    .option('--stacked', 'one input whose first axis enumerates the k arrays')
    .option(
      '--include <patterns>',
      'checkpoints: only tensors matching these comma-separated globs',
      patternList,
    )
    .option(
      '--exclude <patterns>',
      'checkpoints: leave out tensors matching these comma-separated globs',
      patternList,
    )
    .option('--max-shard-size <size>', 'checkpoints: shard the output, e.g. 5GB (default: one file)', size)
    .option(
      '-t, --threads <n>',
      'worker threads (default: available cores; fewer when the job has fewer chunks or --memory-limit holds fewer)',
      positiveInteger,
    )
    .option('--chunk-rows <n>', 'rows per chunk task (default: from --memory-limit)', positiveInteger)
    .option(
      '--memory-limit <size>',
      'peak resident memory of the whole process, e.g. 512MB, 1GiB (default: 512MiB; at least 97MiB)',
      size,
    )
    .option('-f, --force', 'overwrite an existing output file')
    .option('--progress', 'show a progress bar (on a terminal only; default there)')
    .option('--no-progress', 'never show a progress bar')
    .option('--json', 'print one JSON summary line on stdout')
    .option('--debug', 'print stack traces of errors')
    .option('--cluster <url>', 'run as shards on `mean-fusion worker` processes sharing this Redis', redisUrl)
    .option('--queue <name>', 'with --cluster: the BullMQ queue of the workers (default: mean-fusion)')
    .option('--shards <n>', 'with --cluster: shards of the job (default: one per 256 MiB)', positiveInteger)
    .option(
      '--attempts <n>',
      'with --cluster: attempts per shard before the job fails (default: 3)',
      positiveInteger,
    )
    .addHelpText(
      'after',
      '\nWorkers: mean-fusion worker --cluster <url> [--threads N] [--concurrency N] (see mean-fusion worker --help)',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out.writeOut(s),
      writeErr: (s) => out.writeErr(s),
      // Commander's own usage errors read like ours: "mean-fusion: required option '-o, --output <file>' …".
      outputError: (s, write) => write(`mean-fusion: ${s.replace(/^error: /, '')}`),
    });
}

/** Reads the parsed options of `program` into a {@link CliConfig}. */
export function configOf(program: Command): CliConfig {
  const o = program.opts();
  return {
    inputs: program.args,
    output: o.output,
    weights: o.weights,
    nan: o.nan,
    exact: o.exact === true,
    dtype: o.dtype,
    stacked: o.stacked === true,
    include: o.include,
    exclude: o.exclude,
    maxShardSize: o.maxShardSize,
    threads: o.threads,
    chunkRows: o.chunkRows,
    memoryLimit: o.memoryLimit,
    force: o.force === true,
    progress: o.progress,
    json: o.json === true,
    debug: o.debug === true,
    cluster: o.cluster,
    queue: o.queue,
    shards: o.shards,
    attempts: o.attempts,
  };
}
