/** The Observable face shared by the file jobs (`fuseFiles`, `fuseFilesCluster`, `fuseCheckpoints`). */
import { Observable } from 'rxjs';
import { linkSignal } from '../pool/linked-signal.js';

/**
 * A cold Observable of a job's progress events: each subscription runs `run` with a signal that aborts
 * when the caller's `signal` does or the subscriber unsubscribes, emits what `run` reports, and completes
 * (or errors) when `run` settles. An argument error in `signal` is left for `run` to report.
 *
 * @param job - The job's name, for the abort reason of an unsubscription.
 */
export function jobObservable<P>(
  job: string,
  signal: unknown,
  run: (onProgress: (p: P) => void, signal: AbortSignal | undefined) => Promise<unknown>,
): Observable<P> {
  return new Observable<P>((subscriber) => {
    const link = linkSignal(signal as AbortSignal | undefined);
    const linked = link.usable ? link.signal : (signal as AbortSignal);
    run((p) => subscriber.next(p), linked).then(
      () => subscriber.complete(),
      (error: unknown) => subscriber.error(error),
    );
    return () => link.cancel(new DOMException(`The ${job} subscription was cancelled`, 'AbortError'));
  });
}
