/** A cancellable job's own abort signal, linked to an optional caller's signal (used by the cold Observables). */

/** See {@link linkSignal}. */
export interface LinkedSignal {
  /** Aborts when the caller's signal aborts (with its reason) or when {@link LinkedSignal.cancel} is called. */
  readonly signal: AbortSignal;
  /**
   * False when the caller passed something that is not an `AbortSignal`: callers then pass their original
   * value through so the job's own validation rejects it with its usual error.
   */
  readonly usable: boolean;
  /** Detaches from the caller's signal and aborts {@link LinkedSignal.signal}; harmless once settled. */
  cancel(reason?: unknown): void;
}

/**
 * Makes an `AbortController` whose signal follows `outer`: aborted at once if `outer` already is, later when
 * it aborts, always with `outer.reason` (p-map's convention). The listener is removed by `cancel`, so a
 * long-lived caller signal does not keep references to finished jobs.
 */
export function linkSignal(outer: unknown): LinkedSignal {
  const controller = new AbortController();
  const linked = outer instanceof AbortSignal;
  const forward = () => controller.abort((outer as AbortSignal).reason);
  if (linked) {
    if (outer.aborted) forward();
    else outer.addEventListener('abort', forward, { once: true });
  }
  return {
    signal: controller.signal,
    usable: linked || outer === undefined,
    cancel(reason?: unknown) {
      if (linked) outer.removeEventListener('abort', forward);
      controller.abort(reason);
    },
  };
}
