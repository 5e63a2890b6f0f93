/**
 * `mean-fusion worker --cluster redis://…`: a long-running process that takes the shards of
 * `mean-fusion … --cluster` jobs from Redis and runs them on local threads, until SIGINT/SIGTERM (then it
 * finishes its running shards and exits 0; a second signal exits at once, see main.ts).
 */
import { Command, CommanderError } from 'commander';
import { redisLabel } from '../jobs/cluster/connection.js';
import { faultsFromEnv } from '../jobs/cluster/faults.js';
import { startClusterWorker } from '../jobs/cluster/worker.js';
import { positiveInteger, redisUrl, size } from './program.js';
import type { CliIO } from './run.js';

function createWorkerProgram(version: string, io: CliIO): Command {
  return new Command()
    .name('mean-fusion worker')
    .description(
      'Takes shards of `mean-fusion … --cluster <url>` jobs from Redis and fuses them on local threads,\n' +
        'reading and writing the paths in the jobs (shared storage). Stops on SIGINT/SIGTERM after its\n' +
        'running shards.',
    )
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .requiredOption(
      '--cluster <url>',
      'Redis URL shared with the coordinators, e.g. redis://10.0.0.5:6379',
      redisUrl,
    )
    .option('--queue <name>', 'BullMQ queue of the shards (default: mean-fusion)')
    .option('-t, --threads <n>', 'fusion threads (default: available cores)', positiveInteger)
    .option('--concurrency <n>', 'shards at once, sharing the threads (default: 1)', positiveInteger)
    .option('--memory-limit <size>', 'memory budget of the chunk buffers (default: 512MiB)', size)
    .option(
      '--lock-duration <ms>',
      'ms of silence after which a shard is rerun elsewhere (default: 30000)',
      positiveInteger,
    )
    .option(
      '--stalled-interval <ms>',
      'ms between checks for shards of dead workers (default: 30000)',
      positiveInteger,
    )
    .option('--quiet', 'print errors only (not a line per shard)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`mean-fusion worker: ${s.replace(/^error: /, '')}`),
    });
}

/**
 * Runs the worker command line `argv` (after `worker`) until `io.signal` aborts.
 *
 * @returns The exit code: 0 after a clean stop, 1 when the worker could not start, 2 for a bad command line.
 */
export async function runWorker(argv: readonly string[], version: string, io: CliIO): Promise<number> {
  const program = createWorkerProgram(version, io);
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  const o = program.opts();
  const say = (line: string) => io.stderr.write(`mean-fusion worker: ${line}\n`);
  let worker: ReturnType<typeof startClusterWorker>;
  try {
    worker = startClusterWorker({
      connection: o.cluster,
      queue: o.queue,
      threads: o.threads,
      concurrency: o.concurrency,
      memoryLimit: o.memoryLimit,
      lockDuration: o.lockDuration,
      stalledInterval: o.stalledInterval,
      onLog: (line) => {
        if (o.quiet !== true || !/ done in /.test(line)) say(line);
      },
      // TEST ONLY (see src/jobs/cluster/faults.ts): never set in production.
      faults: faultsFromEnv(process.env.MEAN_FUSION_TEST_FAULTS),
    });
  } catch (error) {
    say(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const stopped = new Promise<void>((resolve) => {
    if (io.signal === undefined) return;
    if (io.signal.aborted) resolve();
    else io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    await Promise.race([worker.ready, stopped]);
  } catch (error) {
    say(`error: ${error instanceof Error ? error.message : String(error)}`);
    await worker.close({ force: true });
    return 1;
  }
  if (io.signal?.aborted !== true && o.quiet !== true) {
    say(
      `taking shards from ${redisLabel(o.cluster)} queue ${o.queue ?? 'mean-fusion'} ` +
        `(${worker.threads} threads, ${worker.concurrency} at once)`,
    );
  }
  await stopped;
  if (o.quiet !== true) say('stopping after the running shards');
  await worker.close();
  return 0;
}
