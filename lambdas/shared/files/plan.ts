/**
 * What a file of a stream must contain, and the per-value checks: built once per file from the
 * operator config, shared by the CSV, JSON Lines and Parquet readers.
 *
 * Columns are matched by name (exactly, else case-insensitively when that is unambiguous, as the
 * mapper does), so their order in the file does not matter. Every column named in
 * `streams.<stream>.columns` (and `streams.<stream>.cursor`) must be in the file, even one whose
 * field is dropped (`pii: drop`): a missing column means the export or the mapping changed. A
 * column the mapping does not name is refused (`UNEXPECTED_COLUMN`) rather than ignored: a
 * silently ignored column is how personal data slips into an export unnoticed and how a renamed
 * column turns a field into NULLs.
 */
import { CANONICAL_STREAMS, type FieldType, type StreamName } from '../canonical.ts';
import type { FileFormat, OperatorConfig } from '../config/schema.ts';
import { type FieldPlan, resolveStreamPlan, type StreamPlan } from '../config/stream-plan.ts';
import { buildConverter, type Converter, typeLabel } from '../mapping/coerce.ts';
import { quoteValue, REDACTED_VALUE, ValueProblem } from '../mapping/errors.ts';
import { zoneConverter } from '../mapping/time.ts';
import type { SourceColumn, SourceKind } from '../types.ts';
import { type FileProblem, FileProblemError } from './reason.ts';
import { type Normalizer, normalizerFor } from './values.ts';

/** The format of a stream's files, with the defaults filled in. */
export function formatOf(config: OperatorConfig, stream: StreamName): FileFormat {
  return resolveStreamPlan(config, stream).format;
}

/** One canonical field a file column feeds. */
export interface PlannedField {
  /** Canonical field, or `_cursor` for a cursor column that no field maps. */
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
  readonly personal: boolean;
  readonly configPath: string;
  /** Exact conversion check (the mapper's own converter); undefined when any text lands. */
  readonly check: Converter | undefined;
}

/** One column of the file that is read and passed on. */
export interface PlannedColumn {
  /** Name as configured (the name batches carry, whatever the case in the file). */
  readonly name: string;
  readonly kind: SourceKind;
  readonly sourceType: string;
  /** The canonical type whose text form the values are normalized to. */
  readonly type: FieldType;
  readonly fields: readonly PlannedField[];
  readonly required: boolean;
  /** Values are personal data: never quoted in errors. */
  readonly personal: boolean;
}

/** The columns a stream's files must have and how each is checked. */
export interface FilePlan {
  readonly operatorId: string;
  readonly stream: StreamName;
  readonly format: FileFormat;
  /** Columns passed on in every batch, in this order. */
  readonly columns: readonly PlannedColumn[];
  /** Columns the file must have that are not passed on (fields dropped by `pii: drop`). */
  readonly dropped: readonly string[];
}

function kindOf(type: FieldType): SourceKind {
  switch (type.kind) {
    case 'string':
      return 'text';
    case 'int32':
    case 'int64':
      return 'integer';
    case 'decimal':
      return 'decimal';
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return 'timestamp';
    case 'date':
      return 'date';
  }
}

/** How specific a type's text form is; a column feeding several fields is normalized to the most specific. */
const SPECIFICITY: Record<FieldType['kind'], number> = {
  string: 0,
  boolean: 1,
  int32: 2,
  int64: 2,
  decimal: 2,
  date: 3,
  timestamp: 4,
};

/** Builds the plan of a stream's files. Throws when the stream is not configured. */
export function planFile(config: OperatorConfig, stream: StreamName): FilePlan {
  return planFileOf(resolveStreamPlan(config, stream));
}

/** Builds the plan of a stream's files from the stream's resolved plan. Throws when the stream is not configured. */
export function planFileOf(plan: StreamPlan): FilePlan {
  const { stream, format } = plan;
  if (!plan.configured) throw new Error(`${plan.operatorId}: stream ${stream} is not configured`);
  const canonical = CANONICAL_STREAMS[stream];
  const zone = zoneConverter(plan.fileDropTimeZone);
  const byName = new Map<string, { fields: PlannedField[]; types: FieldType[] }>();
  const order: string[] = [];
  const dropped = new Set<string>();
  const fieldsByName = new Map<string, FieldPlan>(plan.fields.map((f) => [f.name, f]));

  const add = (column: string, field: PlannedField) => {
    let entry = byName.get(column);
    if (!entry) {
      entry = { fields: [], types: [] };
      byName.set(column, entry);
      order.push(column);
    }
    entry.fields.push(field);
    entry.types.push(field.type);
  };

  // Canonical order, so batches have the same columns whatever the order of the config or the file.
  for (const { field, column, treatment, valueType: type, configPath, personal } of plan.fields) {
    if (column === undefined) continue;
    if (treatment === 'drop') {
      dropped.add(column);
      continue;
    }
    // Pseudonymized values are checked too: a pseudonym of a malformed date would never match.
    const plain = !field.values && type.kind !== 'string';
    add(column, {
      name: field.name,
      type,
      required: !field.nullable,
      personal,
      configPath,
      check: plain
        ? buildConverter({ type, kind: kindOf(type), nullable: field.nullable, configPath, zone })
        : undefined,
    });
  }
  const cursorColumn = plan.cursor.column;
  // The canonical cursor field, when it is the cursor column, already has the same check.
  const cursorFieldColumn = fieldsByName.get(canonical.cursor)?.column;
  const cursorChecked =
    cursorFieldColumn !== undefined && cursorFieldColumn === cursorColumn && byName.has(cursorColumn);
  if (cursorColumn !== undefined && !cursorChecked) {
    const cursorField = fieldsByName.get(canonical.cursor)?.field;
    const type: FieldType = cursorField?.type ?? { kind: 'timestamp' };
    const configPath = plan.cursor.configPath;
    add(cursorColumn, {
      name: '_cursor',
      type,
      required: true,
      personal: false,
      configPath,
      check: buildConverter({ type: { kind: 'timestamp' }, kind: 'timestamp', nullable: false, configPath, zone }),
    });
  }

  const columns = order.map((name): PlannedColumn => {
    const entry = byName.get(name)!;
    const type = entry.types.reduce((a, b) => (SPECIFICITY[b.kind] > SPECIFICITY[a.kind] ? b : a));
    return {
      name,
      kind: kindOf(type),
      sourceType: `${format.type} ${typeLabel(type).toLowerCase()}`,
      type,
      fields: entry.fields,
      required: entry.fields.some((f) => f.required),
      personal: entry.fields.some((f) => f.personal),
    };
  });
  for (const c of columns) dropped.delete(c.name);
  return { operatorId: plan.operatorId, stream, format, columns, dropped: [...dropped] };
}

/**
 * The source columns of every batch a file of this stream yields: fixed by the config, so the
 * ingest function can build its mapper (`createRowMapper`) before reading the file.
 */
export function fileSourceColumns(config: OperatorConfig, stream: StreamName): SourceColumn[] {
  return planFile(config, stream).columns.map(({ name, kind, sourceType }) => ({ name, kind, sourceType }));
}

const normalizeName = (name: string) => name.trim();

/**
 * Matches the column names of a file (CSV header, Parquet schema) to the plan. Returns, for each
 * planned column, its index in `names`. Throws DUPLICATE_COLUMN, MISSING_COLUMN or
 * UNEXPECTED_COLUMN listing every such column.
 *
 * When no mapped column matches at all, the first row may well be data (an export without a header
 * row), so the names found are not quoted: they could be personal values.
 */
export function resolveColumns(
  plan: FilePlan,
  names: readonly string[],
  where: { readonly what: string; readonly line: number | null; readonly delimiter?: string },
): number[] {
  const trimmed = names.map(normalizeName);
  const firstIndex = new Map<string, number>();
  trimmed.forEach((name, i) => {
    if (!firstIndex.has(name)) firstIndex.set(name, i);
  });

  const expected = [...plan.columns.map((c) => c.name), ...plan.dropped];
  const find = (name: string): number => {
    const exact = firstIndex.get(name);
    if (exact !== undefined) return exact;
    const lower = name.toLowerCase();
    const matches = trimmed.flatMap((n, i) => (n.toLowerCase() === lower ? [i] : []));
    return matches.length === 1 ? matches[0]! : -1;
  };
  const indexes = new Map<string, number>();
  const used = new Set<number>();
  const missing: string[] = [];
  for (const name of expected) {
    const i = find(name);
    if (i < 0) missing.push(name);
    else {
      indexes.set(name, i);
      used.add(i);
    }
  }
  const quote = used.size > 0;
  const shown = (i: number): string => {
    const name = trimmed[i]!;
    return name.length > 60 ? `${name.slice(0, 60)}…` : name;
  };
  const label = (i: number) => (quote ? `column "${shown(i)}"` : `column ${i + 1}`);

  const problems: FileProblem[] = [];
  const problem = (code: FileProblem['code'], column: string | null, message: string) =>
    problems.push({ line: where.line, row: null, column, code, message, example: null });

  trimmed.forEach((name, i) => {
    const first = firstIndex.get(name)!;
    if (first !== i) {
      problem(
        'DUPLICATE_COLUMN',
        quote ? shown(i) : null,
        `${label(i)} appears twice in the ${where.what} (positions ${first + 1} and ${i + 1})`,
      );
    }
  });
  if (missing.length > 0) {
    let hint = quote ? '' : ` None of the mapped columns is in the ${where.what}: is the header row missing?`;
    if (trimmed.length === 1 && expected.length > 1 && where.delimiter !== undefined) {
      const single = trimmed[0]!;
      const other = [';', ',', '\t', '|'].find((d) => d !== where.delimiter && single.includes(d));
      if (other !== undefined) {
        hint = ` The ${where.what} was read as one column: the file looks delimited by ${JSON.stringify(other)}, but streams.${plan.stream}.format.delimiter is ${JSON.stringify(where.delimiter)}.`;
      }
    }
    for (const name of missing) {
      problem(
        'MISSING_COLUMN',
        name,
        `column "${name}" (mapped in streams.${plan.stream}) is not in the ${where.what}.${hint}`,
      );
      hint = '';
    }
  }
  trimmed.forEach((name, i) => {
    if (used.has(i) || firstIndex.get(name) !== i) return;
    problem(
      'UNEXPECTED_COLUMN',
      quote ? shown(i) : null,
      name === ''
        ? `column ${i + 1} of the ${where.what} has no name (a trailing delimiter?); remove it from the export`
        : `${label(i)} is not mapped in streams.${plan.stream}.columns; remove it from the export, or map it`,
    );
  });
  if (problems.length > 0) {
    const first = problems[0]!;
    const found = quote
      ? trimmed
          .map((_, i) => JSON.stringify(shown(i)))
          .slice(0, 30)
          .join(', ')
      : `${trimmed.length} column(s), not shown (the first row may be data)`;
    throw new FileProblemError(first.code, summarizeHeader(problems, where.what, expected, found), {
      line: first.line,
      column: first.column,
      problems,
    });
  }
  return plan.columns.map((c) => indexes.get(c.name)!);
}

function summarizeHeader(problems: FileProblem[], what: string, expected: string[], found: string): string {
  const count = (code: string) => problems.filter((p) => p.code === code).length;
  const parts = [
    count('DUPLICATE_COLUMN') ? `${count('DUPLICATE_COLUMN')} duplicate column(s)` : '',
    count('MISSING_COLUMN') ? `${count('MISSING_COLUMN')} missing column(s)` : '',
    count('UNEXPECTED_COLUMN') ? `${count('UNEXPECTED_COLUMN')} unexpected column(s)` : '',
  ].filter(Boolean);
  const list = expected.map((n) => JSON.stringify(n)).join(', ');
  return `the ${what} does not match the mapping: ${parts.join(', ')}; expected ${list}, found ${found}`;
}

/** Collects row-level problems: counts all, keeps the first `maxListed`. */
export class ProblemCollector {
  count = 0;
  readonly listed: FileProblem[] = [];
  constructor(readonly maxListed: number) {}

  add(problem: FileProblem): void {
    this.count++;
    if (this.listed.length < this.maxListed) this.listed.push(problem);
  }
}

/** Where the row being checked is, asked only when it has a problem. */
export interface RowLocation {
  line(): number | null;
  row(): number;
}

/**
 * Checks and normalizes rows in place: NULL in required columns, format normalization
 * ({@link normalizerFor}) and the mapper's exact converters, collecting every problem.
 */
export class RowChecker {
  private readonly normalizers: (Normalizer | undefined)[];

  constructor(
    private readonly plan: FilePlan,
    private readonly problems: ProblemCollector,
    private readonly location: RowLocation,
    /** Per column: whether the format normalizer applies (false for values already in text form). */
    normalize: readonly boolean[] | boolean,
    useDecimalSeparator: boolean,
  ) {
    const formatPath = `streams.${plan.stream}.format`;
    this.normalizers = plan.columns.map((c, i) =>
      (typeof normalize === 'boolean' ? normalize : normalize[i])
        ? normalizerFor(c.type, { format: plan.format, formatPath, useDecimalSeparator })
        : undefined,
    );
  }

  /** Checks one row (values in plan column order, normalized in place); true when it has no problem. */
  check(cells: (string | null)[]): boolean {
    const columns = this.plan.columns;
    let ok = true;
    for (let c = 0; c < columns.length; c++) {
      const column = columns[c]!;
      let value = cells[c] ?? null;
      if (value === null) {
        if (column.required) {
          const field = column.fields.find((f) => f.required)!;
          this.fail(column, null, `is empty but ${field.name} is required`, 'fill it in every row', field);
          ok = false;
        }
        continue;
      }
      const normalize = this.normalizers[c];
      if (normalize !== undefined) {
        try {
          value = normalize(value);
        } catch (e) {
          this.failWith(column, cells[c]!, e);
          ok = false;
          continue;
        }
        cells[c] = value;
      }
      for (const field of column.fields) {
        if (field.check === undefined) continue;
        try {
          if (field.check(value) === null && field.required) {
            this.fail(column, value, `is no point in time but ${field.name} is required`, 'fix the value', field);
            ok = false;
          }
        } catch (e) {
          this.failWith(column, value, e, field);
          ok = false;
          break;
        }
      }
    }
    return ok;
  }

  private failWith(column: PlannedColumn, value: string, e: unknown, field?: PlannedField): void {
    if (!(e instanceof ValueProblem)) throw e;
    this.fail(column, value, e.problem, e.hint, field);
  }

  private fail(column: PlannedColumn, value: string | null, problem: string, hint: string, field?: PlannedField): void {
    const target =
      field !== undefined && field.name !== column.name && field.name !== '_cursor' ? ` (${field.name})` : '';
    this.problems.add({
      line: this.location.line(),
      row: this.location.row(),
      column: column.name,
      code: 'INVALID_VALUE',
      message: `column ${column.name}${target}: the value ${problem}; ${hint}`,
      example: value === null ? null : column.personal ? REDACTED_VALUE : quoteValue(value),
    });
  }
}
