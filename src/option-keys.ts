/** The check every options-taking function shares: a misspelt option name is an error, never ignored. */
import { OptionError } from './errors.js';

/** Edit distance of two short strings (for the "did you mean" hint). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * Refuses an options object with a key that is not one of `known` (a typo such as `wieghts` would
 * otherwise run silently without the option).
 *
 * @param options - The caller's options object (already checked to be an object).
 * @param known - The option names `where` accepts.
 * @param where - The function or class the options belong to, e.g. `'meanFusion'`.
 * @throws {OptionError} naming the first unknown key, the accepted names and, for a near miss, the name meant.
 */
export function assertKnownKeys(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const limit = Math.max(1, Math.floor(key.length / 3));
    const near = known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= limit);
    const hint = near === undefined ? '' : ` (did you mean \`${near}\`?)`;
    throw new OptionError(
      `Unknown option \`${key}\` of ${where}${hint}; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
}
