/**
 * Text decoding of CSV and JSON Lines content into validated UTF-8 chunks.
 *
 * - `utf-8`: the bytes are checked (`buffer.isUtf8`, SIMD-fast) and passed on unchanged; a
 *   multi-byte character split across two chunks is carried to the next one. The first invalid
 *   byte is located only when a chunk fails, for the line number of the error.
 * - `latin1`: decoded as windows-1252 (the WHATWG meaning of the label, as every browser and
 *   spreadsheet uses it: bytes 0x80-0x9F are `€`, `‚`, …), never invalid.
 * - `utf-16le`: decoded with a fatal TextDecoder (an unpaired surrogate or an odd byte count is
 *   an error).
 *
 * A byte order mark of the declared encoding is removed. NUL characters are refused: they mean
 * the file is UTF-16 read as UTF-8, or binary. A Parquet file (or a file starting with a UTF-8
 * BOM while latin1 is declared) is recognised and refused with a clear message.
 */
import { isUtf8 } from 'node:buffer';
import type { FileFormat } from '../config/schema.ts';
import { FileProblemError } from './reason.ts';

/** Counts `\n` bytes in `bytes[from, to)`. */
export function countNewlines(bytes: Uint8Array, from = 0, to = bytes.length): number {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  let i = buf.indexOf(10, from);
  while (i >= 0 && i < to) {
    n++;
    i = buf.indexOf(10, i + 1);
  }
  return n;
}

/** Length of the prefix of `bytes` that does not end inside a multi-byte UTF-8 sequence. */
function completeLength(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let back = 1; back <= 3 && back <= n; back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

/** Offset of the first byte that is not part of a valid UTF-8 sequence (the chunk is known to be invalid). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + need >= n) return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return n;
}

function describe(encoding: FileFormat['encoding'], formatPath: string): string {
  return `the file is not valid ${encoding} text (${formatPath}.encoding is ${encoding})`;
}

const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/** Decoded, validated UTF-8 text of a CSV or JSON Lines file, with the line count so far. */
export interface TextChunks extends AsyncIterable<Buffer> {
  /** Newlines passed on so far. */
  readonly newlines: number;
}

/**
 * Decodes `bytes` in `encoding` into validated UTF-8 chunks. Throws {@link FileProblemError}
 * INVALID_ENCODING (with the line) or WRONG_FORMAT.
 */
export function decodeText(
  bytes: AsyncIterable<Uint8Array>,
  format: Pick<FileFormat, 'encoding' | 'type'>,
  formatPath: string,
): TextChunks {
  const state = { newlines: 0 };
  const encoding = format.encoding;

  const nulError = (line: number) =>
    new FileProblemError(
      'INVALID_ENCODING',
      `the file contains NUL characters (line ${line}): it is binary, or UTF-16 text read as ${encoding}; set ${formatPath}.encoding`,
      { line },
    );

  const checkStart = (first: Uint8Array) => {
    if (startsWith(first, PARQUET_MAGIC)) {
      throw new FileProblemError(
        'WRONG_FORMAT',
        `the file is Parquet but ${formatPath}.type is ${format.type}; drop ${format.type} files here, or change the format`,
      );
    }
    if (encoding !== 'utf-8' && startsWith(first, [0xef, 0xbb, 0xbf])) {
      throw new FileProblemError(
        'INVALID_ENCODING',
        `the file starts with a UTF-8 byte order mark but ${formatPath}.encoding is ${encoding}; set it to utf-8`,
        { line: 1 },
      );
    }
    if (encoding === 'utf-8' && (startsWith(first, [0xff, 0xfe]) || startsWith(first, [0xfe, 0xff]))) {
      throw new FileProblemError(
        'INVALID_ENCODING',
        `the file starts with a UTF-16 byte order mark but ${formatPath}.encoding is utf-8; set it to utf-16le (or export UTF-8)`,
        { line: 1 },
      );
    }
  };

  async function* utf8(): AsyncGenerator<Buffer> {
    let carry: Buffer | undefined;
    let first = true;
    for await (const chunk of bytes) {
      let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (carry !== undefined) {
        buf = Buffer.concat([carry, buf]);
        carry = undefined;
      }
      if (first) {
        if (buf.length < 4) {
          carry = Buffer.from(buf);
          continue;
        }
        checkStart(buf);
        first = false;
        if (startsWith(buf, [0xef, 0xbb, 0xbf])) buf = buf.subarray(3);
      }
      const cut = completeLength(buf);
      if (cut < buf.length) {
        carry = Buffer.from(buf.subarray(cut));
        buf = buf.subarray(0, cut);
      }
      yield check(buf);
    }
    if (first && carry !== undefined) {
      checkStart(carry);
      const rest = startsWith(carry, [0xef, 0xbb, 0xbf]) ? carry.subarray(3) : carry;
      carry = undefined;
      if (rest.length > 0) yield check(rest);
    }
    if (carry !== undefined && carry.length > 0) {
      throw new FileProblemError(
        'INVALID_ENCODING',
        `${describe(encoding, formatPath)}: it ends in the middle of a character (line ${state.newlines + 1})`,
        { line: state.newlines + 1 },
      );
    }
  }

  const check = (buf: Buffer): Buffer => {
    if (!isUtf8(buf)) {
      const at = firstInvalidUtf8(buf);
      const line = state.newlines + countNewlines(buf, 0, at) + 1;
      throw new FileProblemError(
        'INVALID_ENCODING',
        `${describe(encoding, formatPath)}: invalid byte 0x${buf[at]?.toString(16).padStart(2, '0')} on line ${line}; export the file as UTF-8, or set ${formatPath}.encoding to latin1 or utf-16le`,
        { line },
      );
    }
    const nul = buf.indexOf(0);
    if (nul >= 0) throw nulError(state.newlines + countNewlines(buf, 0, nul) + 1);
    state.newlines += countNewlines(buf);
    return buf;
  };

  async function* decoded(): AsyncGenerator<Buffer> {
    const decoder = new TextDecoder(encoding === 'latin1' ? 'windows-1252' : encoding, { fatal: true });
    let first = true;
    const convert = (text: string): Buffer => {
      const nul = text.indexOf('\0');
      if (nul >= 0) {
        let line = state.newlines + 1;
        for (let i = text.indexOf('\n'); i >= 0 && i < nul; i = text.indexOf('\n', i + 1)) line++;
        throw nulError(line);
      }
      const out = Buffer.from(text, 'utf8');
      state.newlines += countNewlines(out);
      return out;
    };
    const fail = (e: unknown) =>
      new FileProblemError(
        'INVALID_ENCODING',
        `${describe(encoding, formatPath)}: an invalid character after line ${state.newlines + 1}; export the file as UTF-8`,
        { line: state.newlines + 1, cause: e },
      );
    for await (const chunk of bytes) {
      if (first) {
        checkStart(chunk);
        first = false;
      }
      let text: string;
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch (e) {
        throw fail(e);
      }
      if (text.length > 0) yield convert(text);
    }
    let tail: string;
    try {
      tail = decoder.decode();
    } catch (e) {
      throw fail(e);
    }
    if (tail.length > 0) yield convert(tail);
  }

  const source = encoding === 'utf-8' ? utf8 : decoded;
  return {
    get newlines() {
      return state.newlines;
    },
    [Symbol.asyncIterator]: () => source(),
  };
}
