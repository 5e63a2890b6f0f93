/**
 * Redis connections of the cluster job: the `connection` option (a `redis://` URL or ioredis options),
 * clients made from it for BullMQ, and a watchdog that gives a fusion up when Redis stays unreachable.
 *
 * ioredis and BullMQ are imported on first use (here and in flow.ts, worker.ts), not with the package: a
 * program that never runs a cluster job does not load them (~100 ms and ~20 MiB of heap at start-up).
 */
import type { Redis, RedisOptions } from 'ioredis';
import { describe, OptionError } from '../../errors.js';
import { RedisUnavailableError } from './errors.js';

/** Where Redis is: a `redis://[user:password@]host[:port][/db]` (or `rediss://`) URL, or ioredis options. */
export type RedisConnection = string | RedisOptions;

/** True for a `redis://` or `rediss://` URL that parses (WHATWG URL: a port above 65535 does not). */
export function isRedisUrl(text: string): boolean {
  return /^rediss?:\/\/\S+$/.test(text) && URL.canParse(text);
}

/**
 * Checks the `connection` option, including what ioredis and BullMQ would refuse only once loaded (an
 * unparsable URL, a `keyPrefix`), so those errors stay synchronous and name the option.
 * @throws {OptionError} when it is neither a `redis://`/`rediss://` URL nor an options object, the URL does
 *   not parse (WHATWG URL: a port above 65535, say), or the options set `keyPrefix` or a `port` that is not an
 *   integer from 0 to 65535.
 */
export function checkConnection(value: unknown): RedisConnection {
  if (typeof value === 'string' && /^rediss?:\/\/\S+$/.test(value)) {
    if (!isRedisUrl(value)) {
      throw new OptionError(`Expected \`connection\` to be a valid redis:// URL, got ${describe(value)}`);
    }
    return value;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const port = (value as RedisOptions).port;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new OptionError(
        `Expected \`connection.port\` to be an integer from 0 to 65535, got ${describe(port)}`,
      );
    }
    if ((value as RedisOptions).keyPrefix !== undefined) {
      throw new OptionError(
        'Expected `connection` without `keyPrefix` (BullMQ does not support it): set `prefix` instead',
      );
    }
    return value as RedisOptions;
  }
  throw new OptionError(
    `Expected \`connection\` to be a redis:// URL or ioredis options, got ${describe(value)}`,
  );
}

/** The connection for messages: the URL without credentials, or `redis://host:port`. */
export function redisLabel(connection: RedisConnection): string {
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      url.username = '';
      url.password = '';
      return url.toString().replace(/\/$/, '');
    } catch {
      return 'redis';
    }
  }
  return `redis://${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
}

/**
 * A new ioredis client for BullMQ (`maxRetriesPerRequest: null`, as BullMQ's blocking commands need),
 * retrying the connection every ≤ 1 s for as long as the caller keeps it. The caller disconnects it.
 */
export async function openRedis(connection: RedisConnection, name: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    connectionName: name,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  };
  const client =
    typeof connection === 'string'
      ? new Redis(connection, options)
      : new Redis({ ...connection, ...options });
  // Without a listener ioredis prints every failed reconnection; the watchdog reports the outage instead.
  client.on('error', () => {});
  return client;
}

/** See {@link watchRedis}. */
export interface RedisWatch {
  /** Resolves once the client is first connected; rejects like `lost`. */
  readonly ready: Promise<void>;
  /** Rejects with a {@link RedisUnavailableError} once Redis is unreachable for `timeout` ms. */
  readonly lost: Promise<never>;
  /** True once {@link RedisWatch.lost} has rejected. */
  isLost(): boolean;
  /** Stops watching (the promises then never settle). */
  stop(): void;
}

/**
 * Watches `client`: Redis counts as lost from the start until the client is ready, and from each
 * disconnection until it is ready again; a loss longer than `timeout` ms rejects {@link RedisWatch.lost}
 * (and `ready`) with an error naming `label` and the last connection error.
 */
export function watchRedis(client: Redis, label: string, timeout: number): RedisWatch {
  let lostSince: number | undefined = client.status === 'ready' ? undefined : performance.now();
  let lastError: Error | undefined;
  let everReady = client.status === 'ready';
  let gaveUp = false;
  let resolveReady!: () => void;
  let rejectAll!: (error: unknown) => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const lost = new Promise<never>((_, reject) => {
    rejectAll = reject;
  });
  const readyOrLost = Promise.race([ready, lost]);
  readyOrLost.catch(() => {});
  lost.catch(() => {});
  if (everReady) resolveReady();
  const onReady = () => {
    lostSince = undefined;
    everReady = true;
    resolveReady();
  };
  const onDown = () => {
    lostSince ??= performance.now();
  };
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on('ready', onReady);
  client.on('close', onDown);
  client.on('end', onDown);
  client.on('error', onError);
  const timer = setInterval(
    () => {
      if (lostSince === undefined || performance.now() - lostSince < timeout) return;
      stop();
      gaveUp = true;
      const why = lastError === undefined ? '' : `: ${lastError.message}`;
      const what = everReady ? 'Lost the connection to' : 'Cannot connect to';
      rejectAll(
        new RedisUnavailableError(`${what} Redis at ${label} for ${timeout} ms${why}`, { cause: lastError }),
      );
    },
    Math.max(10, Math.min(250, timeout / 4)),
  );
  const stop = () => {
    clearInterval(timer);
    client.off('ready', onReady);
    client.off('close', onDown);
    client.off('end', onDown);
    client.off('error', onError);
  };
  return { ready: readyOrLost, lost, isLost: () => gaveUp, stop };
}

/** Runs `close`, but gives up after `ms` (a close during an outage waits for Redis otherwise). */
export async function closeWithin(close: () => Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    close().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
