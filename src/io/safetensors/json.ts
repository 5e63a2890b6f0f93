/**
 * A strict, bounded JSON parser for safetensors headers: RFC 8259 syntax, duplicate keys rejected at every
 * level (JSON.parse keeps the last one silently, which would hide a second tensor of the same name),
 * nesting depth capped (no stack overflow on `[[[[…`), and numbers kept as their literal text so integers
 * beyond 2^53 are reported instead of silently rounded. Runs in time linear in the header's length.
 *
 * Failures are `JsonSyntaxError`s carrying an offset; the header reader turns them into
 * `SafetensorsFormatError`s naming the file.
 *
 * ## References
 * - RFC 8259, "The JavaScript Object Notation (JSON) Data Interchange Format", §2–§7.
 */

/** A parsed JSON value. Numbers stay text: {@link JsonNumber}. */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** An object, with its keys in file order (duplicates rejected). */
export type JsonObject = Map<string, JsonValue>;

/** A JSON number literal, unparsed. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** A syntax error at character `offset`. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at character ${offset}`);
    this.name = 'JsonSyntaxError';
  }
}

/** Deepest nesting accepted; a safetensors header needs 3 (header → tensor → shape). */
export const MAX_DEPTH = 32;

const WS = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Parses `text` as one JSON value, allowing surrounding whitespace only.
 *
 * @throws {JsonSyntaxError} for any syntax error, a duplicate key, or nesting deeper than {@link MAX_DEPTH}.
 */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(what, i);
  };
  const skip = () => {
    while (i < text.length && WS(text.charCodeAt(i))) i++;
  };
  const literal = (word: string, value: JsonValue): JsonValue => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail('invalid literal');
  };
  const string = (): string => {
    i++; // opening quote
    let out = '';
    let run = i;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(run, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(run, i);
      const e = text[i + 1];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (e !== undefined && Object.hasOwn(simple, e)) {
        out += simple[e];
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        fail('invalid escape in string');
      }
      run = i;
    }
  };
  const value = (depth: number): JsonValue => {
    skip();
    if (i >= text.length) return fail('unexpected end of input');
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null || m[0].length === 0) return fail(`unexpected character ${JSON.stringify(c)}`);
    i += m[0].length;
    return new JsonNumber(m[0]);
  };
  const object = (depth: number): JsonObject => {
    i++;
    const out: JsonObject = new Map();
    skip();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      skip();
      if (text[i] !== '"') fail('expected a string key');
      const at = i;
      const key = string();
      if (out.has(key)) {
        i = at;
        fail(`duplicate key ${JSON.stringify(key)}`);
      }
      skip();
      if (text[i] !== ':') fail("expected ':'");
      i++;
      out.set(key, value(depth));
      skip();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return out;
      }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth: number): JsonValue[] => {
    i++;
    const out: JsonValue[] = [];
    skip();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      skip();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return out;
      }
      fail("expected ',' or ']'");
    }
  };
  const result = value(0);
  skip();
  if (i !== text.length) fail('unexpected text after the value');
  return result;
}
