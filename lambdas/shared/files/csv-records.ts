/**
 * A streaming RFC 4180 record parser over UTF-8 bytes: pure, with no dependency, so a splitter
 * (or a worker) can use it on any byte range that starts at a record boundary.
 *
 * Chunks are pushed as they arrive; a record (or a field, a quoted line break, a CRLF, a doubled
 * quote, a multi-byte delimiter) may be split anywhere across chunks: an incomplete record is
 * carried to the next chunk and parsed again from its start. Bytes are decoded (as UTF-8, which
 * the caller has validated) only for field values. Each call returns the complete records it
 * found as one {@link CsvRecordBatch}, with the physical line each record starts on and the byte
 * offset after it. A scan-only mode (`decode = false`) finds the same records, lines, ends and
 * errors without decoding any field: it is how a long input is cut into record-aligned ranges that
 * are then parsed apart (with `startLine`), so the dialect has this one implementation.
 *
 * The dialect is the one `csv-parse` had with the options the file-drop reader gave it (delimiter,
 * quote doubled as its own escape, CRLF or LF record ends, empty lines skipped, a record size
 * limit), and the errors are the same, at the same place:
 * - a quote inside an unquoted field: `INVALID_OPENING_QUOTE`, at that quote;
 * - text after a closing quote (anything but a delimiter, a record end or the end of the input):
 *   `INVALID_CLOSING_QUOTE`, at the closing quote;
 * - the input ends inside a quoted field: `QUOTE_NOT_CLOSED`, at the last byte of the input;
 * - a record longer than `maxRecordSize`: `MAX_RECORD_SIZE`, at the first character over it. The
 *   size counts characters (UTF-16 code units) of the record's finished fields plus bytes of the
 *   field being read, as `csv-parse` did; the limit also bounds what is carried between chunks.
 * A lone CR is field content; an empty field is `''`.
 */

import { isAscii } from 'node:buffer';

const LF = 10;
const CR = 13;
const BOM = [0xef, 0xbb, 0xbf];

/** Options of {@link CsvRecordParser}. */
export interface CsvDialect {
  /** Field delimiter: one character (one to four UTF-8 bytes). @default ',' */
  readonly delimiter?: string;
  /** Quote character; a quote inside a quoted field is doubled. @default '"' */
  readonly quote?: string;
  /** Longest record (see the module documentation); 0 for no limit. @default 0 */
  readonly maxRecordSize?: number;
  /** Whether empty lines are skipped (else each is a record of one empty field). @default true */
  readonly skipEmptyLines?: boolean;
  /** Whether a UTF-8 byte order mark at the start of the input is removed. @default false */
  readonly bom?: boolean;
  /**
   * Physical line (1-based) the input starts on: a byte range cut from a longer input at a record
   * boundary reports the lines of the whole input. @default 1
   */
  readonly startLine?: number;
}

/** Codes of {@link CsvSyntaxError}. */
export type CsvSyntaxCode = 'INVALID_OPENING_QUOTE' | 'INVALID_CLOSING_QUOTE' | 'QUOTE_NOT_CLOSED' | 'MAX_RECORD_SIZE';

/** The input is not CSV of the dialect. The message names no field value. */
export class CsvSyntaxError extends Error {
  override readonly name = 'CsvSyntaxError';
  constructor(
    readonly code: CsvSyntaxCode,
    /**
     * Line (1-based) of the byte where the problem was found: the record's line plus the line
     * breaks before that byte in the record, a CR counting as one (as csv-parse counted).
     */
    readonly line: number,
    /** Byte offset of that byte in the input (after a removed byte order mark). */
    readonly offset: number,
    /** Line the record holding the problem starts on. */
    readonly recordLine: number,
  ) {
    super(`${code} at line ${line} (byte ${offset})`);
  }
}

/**
 * Complete records of one call. Record `r` has the fields `values[starts[r]]` up to (not
 * including) `values[starts[r + 1]]`.
 */
export interface CsvRecordBatch {
  /** Records in the batch. */
  readonly count: number;
  /** Field values of every record, in order. */
  readonly values: string[];
  /** Index in `values` of each record's first field, plus the end (`count + 1` entries). */
  readonly starts: number[];
  /** Physical line (1-based) each record starts on. */
  readonly lines: number[];
  /** Byte offset in the input just after each record's line end (where the next record may start). */
  readonly ends: number[];
  /** The syntax error that stopped parsing after these records, if any. */
  readonly error: CsvSyntaxError | undefined;
}

const NEED_MORE = -1;

function bytesOf(text: string, what: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  if (text.length !== 1 || bytes.length === 0 || bytes.length > 4) {
    throw new RangeError(`the CSV ${what} must be one character, got ${JSON.stringify(text)}`);
  }
  if (bytes[0] === LF || bytes[0] === CR) throw new RangeError(`the CSV ${what} cannot be a line break`);
  return bytes;
}

/** 1 when `seq` is at `buf[pos]`, 0 when not, NEED_MORE when the buffer ends inside a possible match. */
function matchAt(buf: Uint8Array, pos: number, n: number, seq: Uint8Array): number {
  for (let k = 0; k < seq.length; k++) {
    if (pos + k >= n) return NEED_MORE;
    if (buf[pos + k] !== seq[k]) return 0;
  }
  return 1;
}

/**
 * Length in UTF-16 code units of the valid UTF-8 text `buf[from, to)` (what the decoded string's
 * `length` would be): one per character, two for a character beyond the BMP.
 */
function utf16Length(buf: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const b = buf[i]!;
    if ((b & 0xc0) !== 0x80) n += b >= 0xf0 ? 2 : 1;
  }
  return n;
}

/** LF and CR bytes in `buf[from, to)`. */
function countBreaks(buf: Uint8Array, from: number, to: number): number {
  let lines = 0;
  for (let i = from; i < to; i++) if (buf[i] === LF || buf[i] === CR) lines++;
  return lines;
}

const EMPTY: string[] = [];

type Utf8Slicer = Buffer & { utf8Slice?: (start: number, end: number) => string };

/**
 * UTF-8 text of `buf[start, end)`. `Buffer#utf8Slice` (what `toString('utf8', …)` calls after
 * checking its arguments) is used when present: this is called once per field.
 */
const utf8: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Utf8Slicer).utf8Slice === 'function'
    ? (buf, start, end) => (buf as Utf8Slicer).utf8Slice!(start, end)
    : (buf, start, end) => buf.toString('utf8', start, end);

/** Parses CSV records from a stream of UTF-8 chunks; see the module documentation. */
export class CsvRecordParser {
  private readonly delim: Uint8Array;
  private readonly quote: Uint8Array;
  private readonly d0: number;
  private readonly q0: number;
  /** Bytes that end a run of plain field content: LF, CR, the delimiter's and quote's first byte. */
  private readonly special = new Uint8Array(256);
  private readonly maxRecord: number;
  private readonly skipEmptyLines: boolean;
  private bomPending: boolean;
  private carry: Buffer | undefined;
  /** Input offset of `carry[0]` (or of the next chunk). */
  private offset = 0;
  private line: number;
  private failed: CsvSyntaxError | undefined;
  private ended = false;

  // State of the call being parsed.
  private values: string[] = EMPTY;
  private starts: number[] = [];
  private lines: number[] = [];
  private ends: number[] = [];

  constructor(dialect: CsvDialect = {}) {
    this.delim = bytesOf(dialect.delimiter ?? ',', 'delimiter');
    this.quote = bytesOf(dialect.quote ?? '"', 'quote');
    if (Buffer.compare(this.delim, this.quote) === 0) throw new RangeError('the CSV delimiter and quote must differ');
    this.d0 = this.delim[0]!;
    this.q0 = this.quote[0]!;
    this.special[LF] = 1;
    this.special[CR] = 1;
    this.special[this.d0] = 1;
    this.special[this.q0] = 1;
    this.maxRecord = dialect.maxRecordSize ?? 0;
    this.skipEmptyLines = dialect.skipEmptyLines ?? true;
    this.bomPending = dialect.bom ?? false;
    this.line = dialect.startLine ?? 1;
  }

  /**
   * Whether field values are decoded (the default). When false the parser only scans: each call
   * finds the same records, lines, record ends and syntax errors (at the same places, the record
   * size limit included), but `values` stays empty (`starts` still counts each record's fields).
   * May be switched between calls.
   */
  decode = true;

  /** Input bytes consumed so far: the offset where the carried, incomplete record starts. */
  get consumed(): number {
    return this.offset;
  }

  /** Line the next record starts on (or the carried one). */
  get nextLine(): number {
    return this.line;
  }

  /** Parses the records completed by `chunk`. The chunk is not kept (an incomplete record is copied). */
  push(chunk: Uint8Array): CsvRecordBatch {
    if (this.ended) throw new Error('push() after end()');
    const piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = this.carry === undefined ? piece : Buffer.concat([this.carry, piece]);
    this.carry = undefined;
    return this.run(buf, false);
  }

  /** Parses what is left at the end of the input. */
  end(): CsvRecordBatch {
    if (this.ended) throw new Error('end() called twice');
    this.ended = true;
    const buf = this.carry ?? Buffer.alloc(0);
    this.carry = undefined;
    return this.run(buf, true);
  }

  private run(input: Buffer, final: boolean): CsvRecordBatch {
    this.values = [];
    this.starts = [0];
    this.lines = [];
    this.ends = [];
    let buf = input;
    let error = this.failed;
    if (error === undefined && this.bomPending) {
      if (buf.length < 3 && !final && BOM.slice(0, buf.length).every((b, i) => buf[i] === b)) {
        this.carry = Buffer.from(buf);
      } else {
        this.bomPending = false;
        if (buf[0] === BOM[0] && buf[1] === BOM[1] && buf[2] === BOM[2]) buf = buf.subarray(3);
      }
    }
    if (error === undefined && !this.bomPending) {
      try {
        const stop = this.records(buf, final);
        if (stop < buf.length) this.carry = Buffer.from(buf.subarray(stop));
        this.offset += stop;
      } catch (e) {
        if (!(e instanceof CsvSyntaxError)) throw e;
        this.failed = error = e;
      }
    }
    return {
      count: this.lines.length,
      values: this.values,
      starts: this.starts,
      lines: this.lines,
      ends: this.ends,
      error,
    };
  }

  private fail(code: CsvSyntaxCode, buf: Uint8Array, recordStart: number, pos: number): never {
    // csv-parse counted each CR inside the failing record as a line too; the same line is reported.
    const line = this.line + countBreaks(buf, recordStart, pos);
    throw new CsvSyntaxError(code, line, this.offset + pos, this.line);
  }

  /**
   * Fails with MAX_RECORD_SIZE if a content byte of the field at `buf[from, to)` (`escaped`: a
   * quoted field whose doubled quotes count once) brings the record over the limit.
   */
  private checkSize(
    buf: Uint8Array,
    recordStart: number,
    recordSize: number,
    from: number,
    to: number,
    escaped: boolean,
  ) {
    const max = this.maxRecord;
    if (max === 0 || to <= from) return;
    // csv-parse checks before appending each content byte: byte t (0-based) fails when size + t > max.
    const first = Math.max(max - recordSize + 1, 0);
    if (!escaped) {
      if (to - from > first) this.fail('MAX_RECORD_SIZE', buf, recordStart, from + first);
      return;
    }
    const q = this.quote;
    let t = 0;
    let i = from;
    while (i < to) {
      if (buf[i] === q[0] && matchAt(buf, i, to, q) === 1) {
        // the first quote of a doubled pair is skipped; the second one is content
        i += q.length;
        for (let k = 0; k < q.length && i < to; k++, i++, t++) {
          if (t === first) this.fail('MAX_RECORD_SIZE', buf, recordStart, i);
        }
        continue;
      }
      if (t === first) this.fail('MAX_RECORD_SIZE', buf, recordStart, i);
      t++;
      i++;
    }
  }

  /** Parses whole records of `buf`; returns where the first incomplete one starts. */
  private records(buf: Buffer, final: boolean): number {
    const n = buf.length;
    const special = this.special;
    const d0 = this.d0;
    const q0 = this.q0;
    const delim = this.delim;
    const dlen = delim.length;
    const quote = this.quote;
    const qlen = quote.length;
    const single = dlen === 1 && qlen === 1;
    const values = this.values;
    const decode = this.decode;
    /** Fields found so far in this call (the length `values` has when decoding). */
    let fields = values.length;
    // An ASCII buffer is decoded once (SIMD) and its fields are substrings, whose offsets are the
    // byte offsets; else each field is decoded from its bytes. A scan only measures the fields.
    const ascii = isAscii(buf);
    const text = ascii && decode ? buf.toString('latin1', 0, n) : undefined;
    const lengthOf = (from: number, to: number) => (ascii ? to - from : utf16Length(buf, from, to));
    let i = 0;
    record: while (i < n) {
      const recordStart = i;
      const b = buf[i];
      if (this.skipEmptyLines && (b === LF || b === CR)) {
        if (b === LF) {
          i++;
          this.line++;
          continue;
        }
        if (i + 1 >= n) {
          if (!final) return recordStart;
        } else if (buf[i + 1] === LF) {
          i += 2;
          this.line++;
          continue;
        }
      }
      const firstField = fields;
      let recordSize = 0;
      /** LFs inside quoted fields of this record. */
      let inner = 0;
      for (;;) {
        // One field starts at i.
        let value = '';
        let length: number;
        let next: number;
        let q = i < n && buf[i] === q0 ? (qlen === 1 ? 1 : matchAt(buf, i, n, quote)) : 0;
        if (q === NEED_MORE) {
          if (final) q = 0;
          else break;
        }
        if (q === 1) {
          const from = i + qlen;
          let seg = from;
          let parts: string | undefined;
          let partsLength = 0;
          let k = from;
          let escaped = false;
          let closed = -1;
          while (k < n) {
            const c = buf[k]!;
            if (c === LF) {
              inner++;
              k++;
              continue;
            }
            if (c !== q0) {
              k++;
              continue;
            }
            const m = qlen === 1 ? 1 : matchAt(buf, k, n, quote);
            if (m === 0) {
              k++;
              continue;
            }
            if (m === NEED_MORE) break;
            const after = k + qlen;
            const m2 = after >= n ? NEED_MORE : matchAt(buf, after, n, quote);
            if (m2 === NEED_MORE && !final) break;
            if (m2 === 1) {
              escaped = true;
              if (decode) {
                parts = (parts ?? '') + (text === undefined ? utf8(buf, seg, after) : text.substring(seg, after));
              } else {
                partsLength += lengthOf(seg, after);
              }
              seg = after + qlen;
              k = seg;
              continue;
            }
            closed = k;
            break;
          }
          if (closed < 0) {
            this.checkSize(buf, recordStart, recordSize, from, k, escaped);
            if (!final) break;
            this.fail('QUOTE_NOT_CLOSED', buf, recordStart, n - 1);
          }
          this.checkSize(buf, recordStart, recordSize, from, closed, escaped);
          if (decode) {
            const tail = text === undefined ? utf8(buf, seg, closed) : text.substring(seg, closed);
            value = parts === undefined ? tail : parts + tail;
            length = value.length;
          } else {
            length = partsLength + lengthOf(seg, closed);
          }
          next = closed + qlen;
          // Only a delimiter, a record end or the end of the input may follow a closing quote.
          if (next < n) {
            const c = buf[next];
            let ok = false;
            if (c === LF) ok = true;
            else if (c === CR) {
              if (next + 1 < n) ok = buf[next + 1] === LF;
              else if (!final) break;
            } else if (c === d0) {
              const m = dlen === 1 ? 1 : matchAt(buf, next, n, delim);
              if (m === NEED_MORE && !final) break;
              ok = m === 1;
            }
            if (!ok) this.fail('INVALID_CLOSING_QUOTE', buf, recordStart, closed);
          } else if (!final) {
            break;
          }
        } else {
          let k = i;
          /** Set when the buffer ends where the next byte decides (a CR, part of a delimiter or quote). */
          let undecided = false;
          for (;;) {
            while (k < n && special[buf[k]!] === 0) k++;
            if (k >= n) break;
            const c = buf[k]!;
            if (c === LF) break;
            if (c === CR) {
              if (k + 1 < n) {
                if (buf[k + 1] === LF) break;
              } else if (!final) {
                undecided = true;
                break;
              }
              k++;
              continue;
            }
            if (single) {
              if (c === d0) break;
              // a quote: the field is not empty here (an opening quote was handled above)
              this.checkSize(buf, recordStart, recordSize, i, k, false);
              this.fail('INVALID_OPENING_QUOTE', buf, recordStart, k);
            }
            if (c === d0) {
              const m = matchAt(buf, k, n, delim);
              if (m === 1) break;
              if (m === NEED_MORE && !final) {
                undecided = true;
                break;
              }
            }
            if (c === q0) {
              const m = matchAt(buf, k, n, quote);
              if (m === 1) {
                this.checkSize(buf, recordStart, recordSize, i, k, false);
                this.fail('INVALID_OPENING_QUOTE', buf, recordStart, k);
              }
              if (m === NEED_MORE && !final) {
                undecided = true;
                break;
              }
            }
            k++;
          }
          if (undecided || (k >= n && !final)) {
            this.checkSize(buf, recordStart, recordSize, i, k, false);
            break;
          }
          this.checkSize(buf, recordStart, recordSize, i, k, false);
          if (decode) {
            value = k === i ? '' : text === undefined ? utf8(buf, i, k) : text.substring(i, k);
            length = value.length;
          } else {
            length = lengthOf(i, k);
          }
          next = k;
        }
        if (decode) values.push(value);
        fields++;
        recordSize += length;
        // `next` is at a delimiter, a record end, or the end of the input.
        if (next >= n) {
          i = n;
          this.endRecord(this.offset + n, inner, false, fields);
          continue record;
        }
        const c = buf[next];
        if (c === LF || c === CR) {
          i = next + (c === CR ? 2 : 1);
          this.endRecord(this.offset + i, inner, true, fields);
          continue record;
        }
        i = next + dlen;
        if (i >= n) {
          if (!final) break;
          if (decode) values.push('');
          fields++;
          this.endRecord(this.offset + n, inner, false, fields);
          continue record;
        }
      }
      // The record is incomplete: drop its fields and carry its bytes.
      if (decode) values.length = firstField;
      return recordStart;
    }
    return n;
  }

  private endRecord(end: number, inner: number, newline: boolean, fields: number): void {
    this.lines.push(this.line);
    this.ends.push(end);
    this.starts.push(fields);
    this.line += inner + (newline ? 1 : 0);
  }
}
