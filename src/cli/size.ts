/** Parsing of human byte sizes for the command line (`512MB`, `1GiB`, `65536`). */

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1e3,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1e12,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size: a number with an optional unit, case-insensitive. SI units are powers of 1000
 * (`KB`, `MB`, `GB`, `TB`), IEC units powers of 1024 (`KiB`, `MiB`, `GiB`, `TiB`; a bare `K`, `M`, `G`,
 * `T` means the IEC unit).
 *
 * @returns Whole bytes (rounded down), or `undefined` when `text` is not such a size or is below 1 byte.
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (m === null) return undefined;
  const unit = m[2].toLowerCase();
  if (!Object.hasOwn(UNITS, unit)) return undefined;
  const bytes = Math.floor(Number(m[1]) * UNITS[unit]);
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined;
}

/** Formats bytes for people: `1.5 GB`, `512 MB`, `980 B` (SI units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? Math.round(v) : v.toPrecision(3)} ${units[u]}`;
}
