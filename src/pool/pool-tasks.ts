/**
 * The Piscina side of a {@link FusionPool}: its threads, each task in flight (cancellable, held until it
 * settles), and the exits of terminated threads.
 */
import { Piscina } from 'piscina';
import { describe, OptionError } from '../errors.js';
import { HEAP_WORKER_DATA_KEY, threadHeap } from '../kernels/heap/memory.js';
import { releaseClaimsOf } from '../kernels/heap/scratch.js';
import { type ResolvedPoolOptions, TASKS_PER_THREAD } from './pool-options.js';
import { ThreadExits } from './thread-exits.js';

/** A pool's Piscina threads and the tasks in flight on them. */
export class PoolTasks {
  readonly #piscina: Piscina;
  readonly #filename: string;
  readonly #exits: ThreadExits;
  /**
   * Tasks until they settle: Piscina drops a task once posted, and a kernel-heap tensor in it would be
   * freed (its memory reused) if the caller dropped it while a thread still reads it.
   */
  readonly #held = new Set<{ readonly task: unknown }>();
  /** Cancel functions of the jobs and tasks in flight, called by {@link PoolTasks.destroy}. */
  readonly active = new Set<(reason: unknown) => void>();
  #pending = 0;

  constructor(options: ResolvedPoolOptions) {
    this.#filename = options.filename;
    this.#piscina = new Piscina({
      filename: options.filename,
      // One thread always lives (started here, unref'd while idle so it never holds the process open): when
      // a thread dies or is terminated by an abort, Piscina replaces threads only up to minThreads, and with
      // 0 the tasks other jobs have queued would wait forever. Threads above it start on demand and end
      // after idleTimeout.
      minThreads: 1,
      maxThreads: options.threads,
      concurrentTasksPerWorker: TASKS_PER_THREAD,
      idleTimeout: options.idleTimeout,
      // Chunk tasks are synchronous CPU work: a thread blocks in Atomics.wait between tasks and picks up the
      // next one without an event-loop turn.
      atomics: 'sync',
      // The workers attach to this thread's kernel heap, so heap tensors are read and written in place there.
      workerData: { [HEAP_WORKER_DATA_KEY]: threadHeap().memory },
      // Every failure reaches the task it belongs to; an error with no task attached (a thread dying while
      // idle) has no job to fail, and an 'error' event without a listener would crash the process.
    }).on('error', () => {});
    // A thread terminated inside a kernel call (an aborted task, close()) never released its scratch region
    // of the shared heap: give its claims back once it has exited.
    this.#exits = new ThreadExits(this.#piscina, (id) => releaseClaimsOf(threadHeap().header, id));
  }

  /** Tasks sent and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** Resolves once every thread terminated for an abort has exited. */
  stopped(): Promise<void> {
    return this.#exits.stopped();
  }

  /** Cancels everything in flight with `reason` and ends the threads. */
  destroy(reason: unknown): Promise<void> {
    for (const cancel of [...this.active]) cancel(reason);
    return this.#piscina.destroy();
  }

  /**
   * Runs one Piscina task, cancellable by `signal` and by {@link PoolTasks.destroy}; rejects with the abort
   * reason itself (p-map's convention), once a terminated thread has stopped writing into shared memory.
   * `filename` defaults to the pool's worker.
   */
  run<T>(
    task: unknown,
    filename: string | undefined,
    name: string | undefined,
    signal?: AbortSignal,
  ): Promise<T> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(
        new OptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const controller = new AbortController();
    const cancel = (reason: unknown) => controller.abort(reason);
    const onAbort = () => controller.abort(signal?.reason);
    let live = true;
    // Runs once, at settlement or at abort, whichever is first: Piscina's own abort listener (added by run()
    // before ours) has then already dropped the queued task or terminated its thread.
    const release = () => {
      if (!live) return;
      live = false;
      this.#pending--;
      this.active.delete(cancel);
      signal?.removeEventListener('abort', onAbort);
      controller.signal.removeEventListener('abort', release);
    };
    this.active.add(cancel);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#pending++;
    const held = { task };
    this.#held.add(held);
    const running = this.#piscina.run(task, {
      filename: filename ?? this.#filename,
      name: name ?? 'default',
      signal: controller.signal,
    });
    controller.signal.addEventListener('abort', release, { once: true });
    return running
      .catch(async (error: unknown) => {
        if (!controller.signal.aborted) throw error;
        // Settle only once the terminated thread has stopped writing into the task's shared memory.
        await this.stopped();
        // Piscina rejects an aborted task with an AbortError whose cause is the reason; p-map's convention
        // is the reason itself.
        throw controller.signal.reason;
      })
      .finally(() => {
        release();
        this.#held.delete(held);
      }) as Promise<T>;
  }
}
