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
import type { ReadContext } from './csv.ts';
import { RowChecker } from './plan.ts';
import { FileProblemError } from './reason.ts';

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

/** Numbers become their source text; everything else is kept. */
const keepNumberText: Reviver = (_key, value, context) =>
  typeof value === 'number' && context?.source !== undefined ? context.source : value;

const parseLossless = JSON.parse as (text: string, reviver: Reviver) => unknown;

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

  push(chunk: Buffer, onLine: (text: string, line: number) => void): void {
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

  end(onLine: (text: string, line: number) => void): void {
    if (this.partsLength > 0) this.emit(Buffer.concat(this.parts), onLine);
    this.parts = [];
    this.partsLength = 0;
  }

  private emit(bytes: Buffer, onLine: (text: string, line: number) => void): void {
    this.line++;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
    onLine(bytes.toString('utf8', 0, end), this.line);
  }

  private tooLong(): FileProblemError {
    const line = this.line + 1;
    return new FileProblemError('LINE_TOO_LONG', `line ${line} is longer than ${this.maxLineBytes} bytes`, { line });
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

function syntaxPosition(err: unknown, length: number): string {
  const message = err instanceof Error ? err.message : '';
  const at = /position (\d+)/.exec(message);
  if (at && Number(at[1]) >= length) return ': the line ends before the JSON value does';
  if (at) return ` at character ${Number(at[1]) + 1}`;
  if (/end of JSON input|Unterminated/i.test(message)) return ': the line ends before the JSON value does';
  return '';
}

/** Reads JSON Lines text; yields rows (in plan column order) that passed every check. */
export async function* readJsonLines(
  text: AsyncIterable<Buffer>,
  ctx: ReadContext,
): AsyncGenerator<(string | null)[][]> {
  const { plan, problems } = ctx;
  const width = plan.columns.length;
  const planned = plan.columns.map((c) => c.name);
  const lowerToColumn = new Map<string, number | 'ambiguous'>();
  for (const [i, name] of [...planned, ...plan.dropped].entries()) {
    const lower = name.toLowerCase();
    lowerToColumn.set(lower, lowerToColumn.has(lower) ? 'ambiguous' : i);
  }
  const exact = new Map<string, number>([...planned, ...plan.dropped].map((name, i) => [name, i]));
  /** Key → planned column index, -1 for a dropped column; cached per distinct key. */
  const keyIndex = new Map<string, number>();
  const seen = new Uint8Array(width + plan.dropped.length);
  /** Per column, the object number that last set it: two keys for one column in one object are refused. */
  const setIn = new Float64Array(width);

  let currentLine = 0;
  const checker = new RowChecker(plan, problems, { line: () => currentLine, row: () => ctx.rowsRead }, true, false);
  let pending: (string | null)[][] = [];
  let objects = 0;

  const resolveKey = (key: string): number => {
    let index = keyIndex.get(key);
    if (index !== undefined) return index;
    const byExact = exact.get(key);
    const byLower = lowerToColumn.get(key.toLowerCase());
    const found = byExact ?? (typeof byLower === 'number' ? byLower : undefined);
    if (found === undefined) {
      throw new FileProblemError(
        'UNEXPECTED_COLUMN',
        `key "${key.length > 60 ? `${key.slice(0, 60)}…` : key}" on line ${currentLine} is not mapped in streams.${plan.stream}.columns; remove it from the export, or map it`,
        { line: currentLine, column: key },
      );
    }
    seen[found] = 1;
    index = found < width ? found : -1;
    keyIndex.set(key, index);
    return index;
  };

  const onLine = (lineText: string, line: number): void => {
    if (ctx.stoppedEarly) return;
    currentLine = line;
    if (isBlank(lineText)) return;
    ctx.rowsRead++;
    objects++;
    let value: unknown;
    try {
      value = parseLossless(lineText, keepNumberText);
    } catch (err) {
      problems.add({
        line,
        row: ctx.rowsRead,
        column: null,
        code: 'INVALID_JSON',
        message: `the line is not valid JSON${syntaxPosition(err, lineText.length)}; write one JSON object per line`,
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
        const index = resolveKey(key);
        if (index < 0) continue;
        if (setIn[index] === objects) {
          throw new FileProblemError(
            'DUPLICATE_COLUMN',
            `line ${line} has two keys for column "${plan.columns[index]!.name}" (they differ only in case)`,
            { line, column: plan.columns[index]!.name },
          );
        }
        setIn[index] = objects;
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
      if (checker.check(cells) && ok) pending.push(cells);
    }
    if (problems.count >= ctx.stopAfterProblems) ctx.stoppedEarly = true;
  };

  const splitter = new LineSplitter(ctx.maxRecordBytes);
  for await (const chunk of text) {
    splitter.push(chunk, onLine);
    if (ctx.stoppedEarly) break;
    if (pending.length >= ctx.batchRows) {
      const batch = pending;
      pending = [];
      yield batch;
    }
  }
  if (!ctx.stoppedEarly) splitter.end(onLine);
  if (objects === 0) throw new FileProblemError('EMPTY_FILE', 'the file has no JSON lines (it is empty or blank)');
  if (!ctx.stoppedEarly) {
    const names = [...planned, ...plan.dropped];
    const missing = names.filter((_, i) => seen[i] === 0);
    if (missing.length > 0) {
      throw new FileProblemError(
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
  }
  if (pending.length > 0) yield pending;
}
