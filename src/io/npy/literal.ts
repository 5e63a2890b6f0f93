/**
 * A strict parser for the small subset of Python literals that a `.npy` header dictionary uses: strings,
 * integers, `True`/`False`/`None`, tuples, lists and dicts. Safer than evaluating anything (numpy itself uses
 * `ast.literal_eval`); nesting is capped, so hostile input cannot exhaust the stack.
 */

/** A parsed Python literal. Tuples and lists both become arrays; dicts become `Map`s keyed by strings. */
export type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/** Thrown by {@link parsePyLiteral}; callers wrap it with the file name. */
export class PyLiteralError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PyLiteralError';
  }
}

const MAX_DEPTH = 16;

/**
 * Parses one Python literal filling the whole text (surrounding whitespace allowed).
 *
 * @throws {PyLiteralError} naming the offset and what was expected.
 */
export function parsePyLiteral(text: string): PyValue {
  let pos = 0;

  const fail = (what: string): never => {
    const got = pos < text.length ? JSON.stringify(text.slice(pos, pos + 12)) : 'the end of the header';
    throw new PyLiteralError(`expected ${what} at offset ${pos}, got ${got}`);
  };
  const skip = (): void => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos])) pos++;
  };
  const eat = (ch: string): boolean => {
    skip();
    if (text[pos] === ch) {
      pos++;
      return true;
    }
    return false;
  };

  const str = (): string => {
    const quote = text[pos++];
    let out = '';
    while (pos < text.length && text[pos] !== quote) {
      let ch = text[pos++];
      if (ch === '\\') {
        if (pos >= text.length) break;
        const esc = text[pos++];
        ch = esc === 'n' ? '\n' : esc === 't' ? '\t' : esc;
      }
      out += ch;
    }
    if (pos >= text.length) fail(`a closing ${quote}`);
    pos++;
    return out;
  };

  const int = (): number => {
    const m = /^[+-]?\d+/.exec(text.slice(pos, pos + 40));
    if (m === null) return fail('a value');
    pos += m[0].length;
    if (text[pos] === 'L' || text[pos] === 'l') pos++; // Python 2 long suffix, e.g. (3L, 4L)
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) throw new PyLiteralError(`integer ${m[0]} is too large`);
    return n;
  };

  const sequence = (close: string, depth: number): PyValue[] => {
    const items: PyValue[] = [];
    for (;;) {
      if (eat(close)) return items;
      items.push(value(depth + 1));
      if (!eat(',')) {
        if (eat(close)) return items;
        fail(`',' or '${close}'`);
      }
    }
  };

  const dict = (depth: number): Map<string, PyValue> => {
    const map = new Map<string, PyValue>();
    for (;;) {
      if (eat('}')) return map;
      const key = value(depth + 1);
      if (typeof key !== 'string') throw new PyLiteralError('dictionary keys must be strings');
      if (!eat(':')) fail("':'");
      if (map.has(key)) throw new PyLiteralError(`duplicate key '${key}'`);
      map.set(key, value(depth + 1));
      if (!eat(',')) {
        if (eat('}')) return map;
        fail("',' or '}'");
      }
    }
  };

  const value = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) throw new PyLiteralError(`nesting deeper than ${MAX_DEPTH} levels`);
    skip();
    const ch = text[pos];
    if (ch === "'" || ch === '"') return str();
    if (ch === '(') {
      pos++;
      return sequence(')', depth);
    }
    if (ch === '[') {
      pos++;
      return sequence(']', depth);
    }
    if (ch === '{') {
      pos++;
      return dict(depth);
    }
    for (const [word, v] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return v;
      }
    }
    return int();
  };

  const result = value(0);
  skip();
  if (pos !== text.length) fail('the end of the header');
  return result;
}
