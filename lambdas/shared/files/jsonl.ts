/**
 * JSON Lines reader: one JSON object per line (LF or CRLF); blank lines are ignored. The text is
 * decoded like CSV (`format.encoding`, UTF-8 unless configured otherwise).
 *
 * Numbers keep their exact source text (`JSON.parse` source text access), so a 38-digit decimal
 * or an int64 id lands exactly; `true`/`false` become the boolean text forms; `null` is NULL. A
 * key that the mapping does not name is refused (`UNEXPECTED_COLUMN`, the whole file); a mapped
 * key that is absent from a line is NULL there (JSON writers often omit nulls), but a mapped key
 * absent from every line is `MISSING_COLUMN`. A line that is not one JSON object is an
 * `INVALID_JSON` problem; reading goes on so the reason lists the first few. Keys are matched
 * like CSV headers (exactly, else case-insensitively when unambiguous); when a key repeats
 * within an object, the last one wins (as in `JSON.parse`).
 *
 * Error messages never quote the line: V8's SyntaxError text includes the line's content, which
 * may be personal data, so only the position is reported.
 */

import { ChunkCutter } from './chunk-cutter.ts';
import type { ReadContext, TextChunk, TextChunkBatch, TextChunkPlace } from './csv.ts';
import { RowChecker } from './plan.ts';
import { FileProblemError } from './reason.ts';

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

/** Numbers become their source text; everything else is kept. */
const keepNumberText: Reviver = (_key, value, context) =>
  typeof value === 'number' && context?.source !== undefined ? context.source : value;

const parseLossless = JSON.parse as (text: string, reviver: Reviver) => unknown;

/** Takes one line's bytes (without its LF) and its number. */
type LineHandler = (bytes: Buffer, line: number) => void;

/** The text of a line's bytes, without the CR of a CRLF. */
function lineText(bytes: Buffer): string {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
  return bytes.toString('utf8', 0, end);
}

/** Whether a line's bytes are blank (spaces, tabs and CRs only). */
function isBlankBytes(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/**
 * Splits UTF-8 chunks into lines (without the line break, CR of CRLF removed), bounding each
 * line's length. Synchronous per chunk, so a file of millions of short lines costs no await per line.
 */
class LineSplitter {
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** Lines emitted so far. */
  line = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer, onLine: LineHandler): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      let bytes: Buffer = chunk.subarray(start, nl);
      if (this.partsLength + bytes.length > this.maxLineBytes) throw this.tooLong();
      if (this.partsLength > 0) {
        this.parts.push(bytes);
        bytes = Buffer.concat(this.parts);
        this.parts = [];
        this.partsLength = 0;
      }
      this.emit(bytes, onLine);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.partsLength += rest.length;
      if (this.partsLength > this.maxLineBytes) throw this.tooLong();
      this.parts.push(Buffer.from(rest));
    }
  }

  end(onLine: LineHandler): void {
    if (this.partsLength > 0) this.emit(Buffer.concat(this.parts), onLine);
    this.parts = [];
    this.partsLength = 0;
  }

  private emit(bytes: Buffer, onLine: LineHandler): void {
    this.line++;
    onLine(bytes, this.line);
  }

  private tooLong(): FileProblemError {
    const line = this.line + 1;
    return new FileProblemError('LINE_TOO_LONG', `line ${line} is longer than ${this.maxLineBytes} bytes`, { line });
  }
}

function syntaxPosition(err: unknown, length: number): string {
  const message = err instanceof Error ? err.message : '';
  const at = /position (\d+)/.exec(message);
  if (at && Number(at[1]) >= length) return ': the line ends before the JSON value does';
  if (at) return ` at character ${Number(at[1]) + 1}`;
  if (/end of JSON input|Unterminated/i.test(message)) return ': the line ends before the JSON value does';
  return '';
}

/**
 * Checks JSON lines into rows, as {@link readJsonLines} reads them: counts `ctx.rowsRead`,
 * collects problems into `ctx.problems`, keeps the rows that passed every check in
 * {@link pending}, and records which mapped keys appeared ({@link seen}). Throws
 * `UNEXPECTED_COLUMN` and `DUPLICATE_COLUMN` (the whole file fails).
 */
export class JsonLineRows {
  pending: (string | null)[][] = [];
  /** Non-blank lines read (objects or not). */
  objects = 0;
  /** Per planned then dropped column: 1 once a line had its key. */
  readonly seen: Uint8Array;
  private readonly width: number;
  private readonly lowerToColumn = new Map<string, number | 'ambiguous'>();
  private readonly exact: Map<string, number>;
  /** Key → planned column index, -1 for a dropped column; cached per distinct key. */
  private readonly keyIndex = new Map<string, number>();
  /** Per column, the object number that last set it: two keys for one column in one object are refused. */
  private readonly setIn: Float64Array;
  private readonly checker: RowChecker;
  private currentLine = 0;

  constructor(private readonly ctx: ReadContext) {
    const { plan } = ctx;
    this.width = plan.columns.length;
    const names = [...plan.columns.map((c) => c.name), ...plan.dropped];
    for (const [i, name] of names.entries()) {
      const lower = name.toLowerCase();
      this.lowerToColumn.set(lower, this.lowerToColumn.has(lower) ? 'ambiguous' : i);
    }
    this.exact = new Map<string, number>(names.map((name, i) => [name, i]));
    this.seen = new Uint8Array(names.length);
    this.setIn = new Float64Array(this.width);
    this.checker = new RowChecker(
      plan,
      ctx.problems,
      { line: () => this.currentLine, row: () => ctx.rowsRead },
      true,
      false,
    );
  }

  private resolveKey(key: string): number {
    let index = this.keyIndex.get(key);
    if (index !== undefined) return index;
    const byExact = this.exact.get(key);
    const byLower = this.lowerToColumn.get(key.toLowerCase());
    const found = byExact ?? (typeof byLower === 'number' ? byLower : undefined);
    if (found === undefined) {
      throw new FileProblemError(
        'UNEXPECTED_COLUMN',
        `key "${key.length > 60 ? `${key.slice(0, 60)}…` : key}" on line ${this.currentLine} is not mapped in streams.${this.ctx.plan.stream}.columns; remove it from the export, or map it`,
        { line: this.currentLine, column: key },
      );
    }
    this.seen[found] = 1;
    index = found < this.width ? found : -1;
    this.keyIndex.set(key, index);
    return index;
  }

  /** Reads one line (its bytes, without the LF). */
  readonly onLine = (bytes: Buffer, line: number): void => {
    const { ctx, width } = this;
    const { plan, problems } = ctx;
    if (ctx.stoppedEarly) return;
    this.currentLine = line;
    if (isBlankBytes(bytes)) return;
    const text = lineText(bytes);
    ctx.rowsRead++;
    const objects = ++this.objects;
    let value: unknown;
    try {
      value = parseLossless(text, keepNumberText);
    } catch (err) {
      problems.add({
        line,
        row: ctx.rowsRead,
        column: null,
        code: 'INVALID_JSON',
        message: `the line is not valid JSON${syntaxPosition(err, text.length)}; write one JSON object per line`,
        example: null,
      });
      if (problems.count >= ctx.stopAfterProblems) ctx.stoppedEarly = true;
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.add({
        line,
        row: ctx.rowsRead,
        column: null,
        code: 'INVALID_JSON',
        message: `the line is a JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}, not an object; write one JSON object per line`,
        example: null,
      });
    } else {
      const cells: (string | null)[] = new Array(width).fill(null);
      let ok = true;
      for (const key in value) {
        const index = this.resolveKey(key);
        if (index < 0) continue;
        if (this.setIn[index] === objects) {
          throw new FileProblemError(
            'DUPLICATE_COLUMN',
            `line ${line} has two keys for column "${plan.columns[index]!.name}" (they differ only in case)`,
            { line, column: plan.columns[index]!.name },
          );
        }
        this.setIn[index] = objects;
        const v = (value as Record<string, unknown>)[key];
        if (v === null || v === undefined) cells[index] = null;
        else if (typeof v === 'string') cells[index] = v;
        else if (typeof v === 'boolean') cells[index] = v ? 'true' : 'false';
        else {
          ok = false;
          const column = plan.columns[index]!;
          problems.add({
            line,
            row: ctx.rowsRead,
            column: column.name,
            code: 'INVALID_VALUE',
            message: `column ${column.name}: the value is a JSON ${Array.isArray(v) ? 'array' : 'object'}; expected a string, number, boolean or null`,
            example: null,
          });
        }
      }
      if (this.checker.check(cells) && ok) this.pending.push(cells);
    }
    if (problems.count >= ctx.stopAfterProblems) ctx.stoppedEarly = true;
  };
}

/** `MISSING_COLUMN` for the mapped keys that no line had (`seen` as {@link JsonLineRows.seen}), if any. */
export function missingKeys(plan: ReadContext['plan'], seen: Uint8Array): FileProblemError | undefined {
  const names = [...plan.columns.map((c) => c.name), ...plan.dropped];
  const missing = names.filter((_, i) => seen[i] === 0);
  if (missing.length === 0) return undefined;
  return new FileProblemError(
    'MISSING_COLUMN',
    `key${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} (mapped in streams.${plan.stream}.columns) appear${missing.length > 1 ? '' : 's'} on no line of the file`,
    {
      column: missing[0]!,
      problems: missing.map((name) => ({
        line: null,
        row: null,
        column: name,
        code: 'MISSING_COLUMN' as const,
        message: `key "${name}" (mapped in streams.${plan.stream}.columns) appears on no line of the file`,
        example: null,
      })),
    },
  );
}

/** The file has no line with content. */
export const noJsonLines = () =>
  new FileProblemError('EMPTY_FILE', 'the file has no JSON lines (it is empty or blank)');

/** Reads JSON Lines text; yields rows (in plan column order) that passed every check. */
export async function* readJsonLines(
  text: AsyncIterable<Buffer>,
  ctx: ReadContext,
): AsyncGenerator<(string | null)[][]> {
  const rows = new JsonLineRows(ctx);
  const splitter = new LineSplitter(ctx.maxRecordBytes);
  for await (const chunk of text) {
    splitter.push(chunk, rows.onLine);
    if (ctx.stoppedEarly) break;
    if (rows.pending.length >= ctx.batchRows) {
      const batch = rows.pending;
      rows.pending = [];
      yield batch;
    }
  }
  if (!ctx.stoppedEarly) splitter.end(rows.onLine);
  if (rows.objects === 0) throw noJsonLines();
  if (!ctx.stoppedEarly) {
    const missing = missingKeys(ctx.plan, rows.seen);
    if (missing) throw missing;
  }
  if (rows.pending.length > 0) yield rows.pending;
}

/**
 * Cuts JSON Lines text into line-aligned chunks of about `chunkBytes` for
 * {@link readJsonLinesChunk}, as `splitCsv` cuts CSV: lines are found (and their length bounded)
 * as {@link readJsonLines} finds them, and only whether a line is blank is looked at. Chunks end
 * where a batch of {@link readJsonLines} ends (and at the end of the text); a line too long or an
 * invalid encoding ends the text after the chunk holding the lines before it. Throws
 * `EMPTY_FILE` for a text without a line with content. `ctx` is only read.
 */
export async function* splitJsonLines(
  text: AsyncIterable<Buffer>,
  ctx: Pick<ReadContext, 'batchRows' | 'maxRecordBytes'>,
  chunkBytes: number,
): AsyncGenerator<TextChunk> {
  const splitter = new LineSplitter(ctx.maxRecordBytes);
  const cutter = new ChunkCutter();
  /** Offset just after the last line found. */
  let consumed = 0;
  let rows = 0;
  let pendingRows = 0;
  const onLine: LineHandler = (bytes) => {
    consumed += bytes.length + 1;
    if (!isBlankBytes(bytes)) {
      rows++;
      pendingRows++;
    }
  };
  const chunk = (end: number, final: boolean, error?: TextChunk['error']): TextChunk =>
    cutter.chunk(end, rows, final, error);
  const iterator = text[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await iterator.next();
    } catch (e) {
      if (!(e instanceof FileProblemError)) throw e;
      yield chunk(consumed, false, { problem: e, unlessStoppedBy: rows });
      return;
    }
    if (next.done) break;
    cutter.push(next.value);
    const before = rows;
    try {
      splitter.push(next.value, onLine);
    } catch (e) {
      if (!(e instanceof FileProblemError)) throw e;
      yield chunk(consumed, false, { problem: e, unlessStoppedBy: before });
      return;
    }
    if (pendingRows >= ctx.batchRows) {
      pendingRows = 0;
      cutter.batchEnd(consumed, rows);
    }
    if (cutter.bytesToLastBatch >= chunkBytes) yield chunk(cutter.lastBatchEnd!, false);
  }
  const total = cutter.end;
  splitter.end(onLine);
  if (rows === 0) throw noJsonLines();
  if (pendingRows > 0) cutter.batchEnd(total, rows);
  if (cutter.pending) yield chunk(total, true);
}

/**
 * Reads one chunk of {@link splitJsonLines} with `rows` (a {@link JsonLineRows} over a context
 * whose `rowsRead` starts at the chunk's `firstRow`), as {@link readJsonLines} reads those lines;
 * hands the rows of each of the chunk's batches to `onBatch` while no problem was found.
 * Throws what {@link JsonLineRows} throws.
 */
export function readJsonLinesChunk(
  bytes: Buffer,
  place: TextChunkPlace,
  rows: JsonLineRows,
  ctx: ReadContext,
  onBatch: (rows: (string | null)[][], batch: TextChunkBatch) => void,
): void {
  let from = 0;
  let line = place.firstLine;
  const readTo = (end: number) => {
    let start = from;
    for (let nl = bytes.indexOf(10, start); nl >= 0 && nl < end; nl = bytes.indexOf(10, start)) {
      rows.onLine(bytes.subarray(start, nl), line++);
      start = nl + 1;
    }
    // The file's last line may end without a line break.
    if (start < end) rows.onLine(bytes.subarray(start, end), line++);
    from = end;
  };
  for (const batch of place.batches) {
    readTo(batch.end);
    if (ctx.stoppedEarly) return;
    const pending = rows.pending;
    rows.pending = [];
    if (ctx.problems.count === 0) onBatch(pending, batch);
  }
  readTo(bytes.length);
}
