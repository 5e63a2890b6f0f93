/**
 * The one runner of plan-based file jobs: sends plan tasks (batches of byte ranges to read, fuse or copy,
 * and write; see `protocol.ts`) to the worker pool through the RxJS chunk pipeline, `concurrency` in flight,
 * and reports each finished task. Format-neutral: a format's planner makes the tasks, the runner executes
 * any of them.
 */
import type { Subscription } from 'rxjs';
import { TaskError } from '../errors.js';
import type { FusionPool } from '../pool/FusionPool.js';
import { runChunks$ } from '../pool/run-chunks.js';
import { workerPath } from '../pool/worker-path.js';
import type { PlanTask, PlanTaskResult } from './protocol.js';

/**
 * The worker entry of plan tasks (dist/workers/fuse-plan-entry.cjs): a pool made for these jobs names it as
 * its `filename`, so its threads load it while they start (see fileTaskEntry in run-file-chunks.ts).
 */
export const planTaskEntry = (): string => workerPath('fuse-plan-entry.cjs');

/** A task with what the calling thread needs to report on it. */
export interface PlannedTask {
  /** What goes to the worker. */
  readonly task: PlanTask;
  /** One label per range (e.g. the tensor's name), for errors and progress. */
  readonly labels: readonly string[];
}

/** A {@link TaskError} naming the task's labels. */
const taskError = (planned: PlannedTask, error: unknown): unknown =>
  new TaskError([...new Set(planned.labels)], error);

/**
 * Runs every task on `pool`; calls `onTask` after each (in completion order); resolves once all are done.
 * Stops the tasks in flight and rejects with `signal.reason` on abort, or with `wrap(task, error)` (by
 * default a {@link TaskError} naming the task's labels) when a worker fails.
 */
export function runPlan(
  pool: FusionPool,
  tasks: readonly PlannedTask[],
  concurrency: number,
  signal: AbortSignal | undefined,
  onTask: (planned: PlannedTask, result: PlanTaskResult) => void,
  wrap: (planned: PlannedTask, error: unknown) => unknown = taskError,
): Promise<void> {
  if (tasks.length === 0) return Promise.resolve();
  if (signal?.aborted) return Promise.reject(signal.reason);
  const filename = planTaskEntry();
  const run = (planned: PlannedTask, taskSignal: AbortSignal) =>
    pool.runTask<PlanTaskResult>(planned.task, { filename, signal: taskSignal }).catch((error: unknown) => {
      if (taskSignal.aborted) throw error;
      throw wrap(planned, error);
    });
  return new Promise<void>((resolve, reject) => {
    let subscription: Subscription | undefined;
    const onAbort = () => {
      subscription?.unsubscribe();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (error?: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    subscription = runChunks$(tasks, run, concurrency).subscribe({
      next: ({ chunk, result }) => {
        try {
          onTask(chunk, result);
        } catch (error) {
          subscription?.unsubscribe();
          done(error);
        }
      },
      error: (error: unknown) => done(error),
      complete: () => done(),
    });
  });
}
