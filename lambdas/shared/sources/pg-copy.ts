/**
 * `COPY (SELECT …) TO STDOUT` through a plain `pg` Client, decoded from PostgreSQL's text format.
 *
 * Why COPY: it streams rows in the server's own text form at the speed of `psql \copy`, about
 * twice the rate of a server-side cursor read with `pg` (figures in docs/architecture.md).
 *
 * How, without an extra package: `pg` runs any "Submittable" as its active query. While the COPY
 * data flows, this module takes the socket's `data` events itself and unwraps the CopyData frames
 * in bulk (one UTF-8 decode per socket chunk instead of one message object, Buffer and decode per
 * row). At the first frame that is not row data (CopyDone, CommandComplete, ErrorResponse, a
 * notice…) it gives the socket back to `pg`'s protocol parser together with the unread bytes, so
 * `pg` finishes the statement, reports errors and keeps its connection state as usual. Rows that
 * still reach `pg` (after a notice in mid-stream) arrive through `handleCopyData`.
 *
 * Memory stays bounded: when the consumer falls behind, the socket is paused and PostgreSQL's
 * send buffer fills up, which blocks the server until the consumer catches up.
 */
import type { Socket } from 'node:net';
import type pg from 'pg';
import type { SourceBatch, SourceColumn } from '../types.ts';

/** What `pg` hands to a Submittable; only the members used here. */
interface PgConnection {
  query(text: string): void;
  sendCopyFail(message: string): void;
  stream: Socket;
}

type Row = (string | null)[];
type DataListener = (chunk: Buffer) => void;

/** Decodes one field of the COPY text format (backslash escapes). */
function unescapeField(field: string): string {
  let out = '';
  let i = 0;
  while (i < field.length) {
    const slash = field.indexOf('\\', i);
    if (slash === -1 || slash === field.length - 1) {
      out += field.slice(i);
      break;
    }
    out += field.slice(i, slash);
    const c = field[slash + 1]!;
    i = slash + 2;
    switch (c) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        const hex = /^[0-9A-Fa-f]{1,2}/.exec(field.slice(i, i + 2))?.[0];
        if (hex) {
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += hex.length;
        } else out += 'x';
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          const oct = /^[0-7]{1,3}/.exec(field.slice(slash + 1, slash + 4))![0];
          out += String.fromCharCode(Number.parseInt(oct, 8));
          i = slash + 1 + oct.length;
        } else out += c; // "\\" and any other escaped character stand for themselves
    }
  }
  return out;
}

/** Splits one COPY text line (without its newline) into fields; `\N` is NULL. */
export function parseCopyTextLine(line: string): Row {
  const fields: Row = line.split('\t');
  if (line.indexOf('\\') === -1) return fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f === '\\N') fields[i] = null;
    else if (f.indexOf('\\') !== -1) fields[i] = unescapeField(f);
  }
  return fields;
}

/**
 * Collects COPY text bytes and turns complete lines into rows. Lines are split on newline bytes
 * (never part of a multi-byte UTF-8 sequence), so rows may be split across frames and chunks.
 */
export class CopyTextDecoder {
  private buf = Buffer.allocUnsafe(256 * 1024);
  private used = 0;
  /** Text mode: complete lines at the start of the buffer not yet emitted, and where they end. */
  private lines = 0;
  private linesEnd = 0;

  /** Appends bytes (copied: `bytes` may be a view into a reused buffer). */
  append(bytes: Buffer, start = 0, end = bytes.length): void {
    const n = end - start;
    if (this.used + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + n));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    bytes.copy(this.buf, this.used, start, end);
    this.used += n;
  }

  /** Emits every complete row collected so far. */
  flush(onRow: (row: Row) => void): void {
    if (this.used === 0) return;
    const last = this.buf.lastIndexOf(10, this.used - 1);
    if (last === -1) return;
    const lines = this.buf.toString('utf8', 0, last).split('\n');
    for (let i = 0; i < lines.length; i++) onRow(parseCopyTextLine(lines[i]!));
    const rest = this.used - (last + 1);
    if (rest > 0) this.buf.copy(this.buf, 0, last + 1, this.used);
    this.used = rest;
  }

  /**
   * Text mode (instead of {@link flush}): emits the COPY text of every `batchRows` complete lines
   * collected so far, undecoded, as a copy whose lines each end with a newline.
   */
  flushText(batchRows: number, onText: (text: Buffer, rows: number) => void): void {
    const buf = this.buf;
    for (;;) {
      const nl = buf.indexOf(10, this.linesEnd);
      if (nl === -1 || nl >= this.used) return;
      this.linesEnd = nl + 1;
      if (++this.lines === batchRows) this.emitText(onText);
    }
  }

  /** Text mode, at the end of the output: emits the complete lines not emitted yet. */
  finishText(onText: (text: Buffer, rows: number) => void): void {
    this.flushText(Number.MAX_SAFE_INTEGER, onText);
    if (this.lines > 0) this.emitText(onText);
  }

  private emitText(onText: (text: Buffer, rows: number) => void): void {
    const text = Buffer.allocUnsafe(this.linesEnd);
    this.buf.copy(text, 0, 0, this.linesEnd);
    const rows = this.lines;
    const rest = this.used - this.linesEnd;
    if (rest > 0) this.buf.copy(this.buf, 0, this.linesEnd, this.used);
    this.used = rest;
    this.lines = 0;
    this.linesEnd = 0;
    onText(text, rows);
  }

  /** Decodes `chunk` (valid only during this call) and emits every complete row. */
  push(chunk: Buffer, onRow: (row: Row) => void): void {
    this.append(chunk);
    this.flush(onRow);
  }

  /** Drops everything collected. */
  clear(): void {
    this.used = 0;
    this.lines = 0;
    this.linesEnd = 0;
  }

  /** Whether an incomplete row is pending (a protocol anomaly at the end of COPY). */
  get pending(): boolean {
    return this.used > 0;
  }
}

const COPY_DATA = 0x64; // 'd'
const COPY_OUT_RESPONSE = 0x48; // 'H'

/** Batches waiting for the consumer before the socket is paused. */
const HIGH_WATER_BATCHES = 2;

/**
 * Runs one `COPY … TO STDOUT` statement (text format) on `client` and yields its rows in batches
 * of `batchRows`. Breaking out of the iteration drains the rest of the statement's output
 * (discarding it) so the session stays usable.
 */
export function copyOutBatches(client: pg.Client, copySql: string, batchRows: number): AsyncGenerator<Row[]> {
  return copyOut<Row[]>(client, copySql, batchRows, false);
}

/** COPY text of up to `batchRows` complete lines (each ending with a newline) and its line count. */
export interface CopyText {
  readonly text: Buffer;
  readonly rows: number;
}

/**
 * Like {@link copyOutBatches}, but yields each batch as its undecoded COPY text, so the lines can
 * be parsed elsewhere (a worker thread): the only per-row work here is finding newline bytes.
 */
export function copyOutText(client: pg.Client, copySql: string, batchRows: number): AsyncGenerator<CopyText> {
  return copyOut<CopyText>(client, copySql, batchRows, true);
}

/**
 * Decodes the COPY text of {@link copyOutText} into rows: the rows {@link parseCopyTextLine} makes
 * of each line, found in one pass over the decoded text (no string per line; the next tab,
 * newline and backslash are each searched for once).
 */
export function parseCopyText(text: Uint8Array): Row[] {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  if (buf.length === 0) return [];
  const all = buf.toString('utf8', 0, buf.length - 1);
  const len = all.length;
  const rows: Row[] = [];
  // The first tab and backslash at or after the line being split (len when there is none).
  let tab = all.indexOf('\t');
  if (tab === -1) tab = len;
  let slash = all.indexOf('\\');
  if (slash === -1) slash = len;
  let pos = 0;
  // Fields of the previous row: rows are made that long and fixed if a line has another count.
  let width = 1;
  for (;;) {
    let end = all.indexOf('\n', pos);
    if (end === -1) end = len;
    const row: Row = new Array(width);
    let field = 0;
    let start = pos;
    while (tab < end) {
      row[field++] = all.slice(start, tab);
      start = tab + 1;
      tab = all.indexOf('\t', start);
      if (tab === -1) tab = len;
    }
    row[field++] = all.slice(start, end);
    if (field !== width) {
      row.length = field;
      width = field;
    }
    if (slash < end) {
      for (let i = 0; i < row.length; i++) {
        const f = row[i]!;
        if (f === '\\N') row[i] = null;
        else if (f.indexOf('\\') !== -1) row[i] = unescapeField(f);
      }
      slash = all.indexOf('\\', end);
      if (slash === -1) slash = len;
    }
    rows.push(row);
    if (end >= len) return rows;
    pos = end + 1;
  }
}

/** A SourceBatch over COPY text: `copyText` set, `rows` decoded on first use. */
export function copyTextBatch(columns: readonly SourceColumn[], { text, rows: rowCount }: CopyText): SourceBatch {
  const lastStart = text.length < 2 ? 0 : text.lastIndexOf(10, text.length - 2) + 1;
  const lastRow = parseCopyTextLine(text.toString('utf8', lastStart, text.length - 1));
  let rows: Row[] | undefined;
  return {
    columns,
    get rows() {
      rows ??= parseCopyText(text);
      return rows;
    },
    copyText: { text, rowCount, lastRow },
  };
}

async function* copyOut<T extends Row[] | CopyText>(
  client: pg.Client,
  copySql: string,
  batchRows: number,
  textMode: boolean,
): AsyncGenerator<T> {
  const queue: T[] = [];
  let current: Row[] = [];
  let finished = false;
  let failure: unknown;
  let discard = false;
  let paused = false;
  let wake: (() => void) | undefined;
  let connection: PgConnection | undefined;
  let restore: ((rest?: Buffer) => void) | undefined;
  const decoder = new CopyTextDecoder();

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const enqueue = (batch: T) => {
    queue.push(batch);
    if (queue.length >= HIGH_WATER_BATCHES && !paused && connection) {
      paused = true;
      connection.stream.pause();
    }
    notify();
  };
  const onRow = (row: Row) => {
    current.push(row);
    if (current.length >= batchRows) {
      const full = current;
      current = [];
      enqueue(full as T);
    }
  };
  const onText = (text: Buffer, rows: number) => enqueue({ text, rows } as T);
  const flush = () => {
    if (discard) decoder.clear();
    else if (textMode) decoder.flushText(batchRows, onText);
    else decoder.flush(onRow);
  };
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    restore?.();
    failure = err;
    if (textMode && !discard) decoder.finishText(onText);
    if (!err && decoder.pending && !discard) failure = new Error('COPY output ended in the middle of a row');
    if (current.length > 0 && !discard) queue.push(current as T);
    current = [];
    if (paused && connection) {
      paused = false;
      connection.stream.resume();
    }
    notify();
  };

  /** Takes the socket's data events until the first frame that is not row data. */
  const takeSocket = (con: PgConnection) => {
    const stream = con.stream;
    const parsers = stream.listeners('data') as DataListener[];
    let need = 0; // payload bytes of the current CopyData frame still to come
    let skip = 0; // bytes of a CopyOutResponse still to skip
    const header = Buffer.alloc(5);
    let headerUsed = 0;
    const onData: DataListener = (chunk) => {
      try {
        let pos = 0;
        while (pos < chunk.length) {
          if (need > 0) {
            const n = Math.min(need, chunk.length - pos);
            if (!discard) decoder.append(chunk, pos, pos + n);
            pos += n;
            need -= n;
            continue;
          }
          if (skip > 0) {
            const n = Math.min(skip, chunk.length - pos);
            pos += n;
            skip -= n;
            continue;
          }
          let type: number;
          let length: number;
          let headerFromCarry = false;
          if (headerUsed > 0 || chunk.length - pos < 5) {
            const n = Math.min(5 - headerUsed, chunk.length - pos);
            chunk.copy(header, headerUsed, pos, pos + n);
            headerUsed += n;
            pos += n;
            if (headerUsed < 5) break;
            headerUsed = 0;
            headerFromCarry = true;
            type = header[0]!;
            length = header.readInt32BE(1);
          } else {
            type = chunk[pos]!;
            length = chunk.readInt32BE(pos + 1);
            pos += 5;
          }
          if (type === COPY_DATA) need = length - 4;
          else if (type === COPY_OUT_RESPONSE) skip = length - 4;
          else {
            flush();
            restore?.(headerFromCarry ? Buffer.concat([header, chunk.subarray(pos)]) : chunk.subarray(pos - 5));
            return;
          }
        }
        flush();
      } catch (err) {
        // The stream can no longer be trusted to be in sync with the protocol.
        finish(err);
        stream.destroy(err as Error);
      }
    };
    restore = (rest) => {
      restore = undefined;
      stream.removeListener('data', onData);
      for (const parser of parsers) stream.on('data', parser);
      if (rest && rest.length > 0) for (const parser of parsers) parser.call(stream, rest);
    };
    stream.removeAllListeners('data');
    stream.on('data', onData);
  };

  const submittable = {
    submit(con: PgConnection) {
      connection = con;
      takeSocket(con);
      con.query(copySql);
    },
    handleCopyData(msg: { chunk: Buffer }) {
      if (discard) return;
      decoder.append(msg.chunk);
      flush();
    },
    handleCopyInResponse(con: PgConnection) {
      con.sendCopyFail('the source reader only reads');
    },
    handleRowDescription() {},
    handleDataRow() {},
    handlePortalSuspended() {},
    handleEmptyQuery() {},
    handleCommandComplete() {},
    handleReadyForQuery() {
      finish();
    },
    handleError(err: unknown) {
      finish(err);
    },
  };
  client.query(submittable as unknown as pg.Submittable);

  try {
    for (;;) {
      const batch = queue.shift();
      if (batch) {
        if (paused && queue.length < HIGH_WATER_BATCHES && connection) {
          paused = false;
          connection.stream.resume();
        }
        yield batch;
        continue;
      }
      if (finished) {
        if (failure !== undefined) throw failure;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    if (!finished) {
      discard = true;
      queue.length = 0;
      current = [];
      decoder.clear();
      if (paused && connection) {
        paused = false;
        connection.stream.resume();
      }
      await new Promise<void>((resolve) => {
        if (finished) resolve();
        else wake = resolve;
      });
    }
  }
}
