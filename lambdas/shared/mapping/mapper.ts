/**
 * Maps source batches (database text, row-major) onto the landed columns of a canonical stream
 * (typed, column-major): column mapping from the operator config, enumeration value maps, exact
 * type coercion, PII pseudonymization and the connector's metadata columns.
 *
 * Built once per stream and window from the stream's resolved plan (config/stream-plan.ts: the
 * columns, cursor, key, treatments, value maps and time zone); `map` runs column by column with a
 * converter precomputed per landed column, and allocates nothing per row beyond the output values
 * themselves.
 */
import { CANONICAL_STREAMS, type CanonicalField, type StreamName, UNMAPPED_VALUE } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { type FieldPlan, resolveStreamPlan, type StreamPlan } from '../config/stream-plan.ts';
import { type LandedColumn, landedColumnsOf } from '../landed-schema.ts';
import { type Pseudonymizer, pseudonymInput } from '../pii/pseudonymizer.ts';
import type { LandedBatch, LandedValue, SourceBatch, SourceColumn } from '../types.ts';
import {
  buildConverter,
  type Converter,
  type ConverterTarget,
  instantMicrosConverter,
  isCompatible,
  timestampMicrosConverter,
  typeLabel,
} from './coerce.ts';
import { CoercionError, MappingError, quoteValue, ValueProblem } from './errors.ts';
import { zoneConverter } from './time.ts';
import type { SourceSeq } from './version.ts';

export interface RowMapperOptions {
  readonly config: OperatorConfig;
  readonly stream: StreamName;
  /**
   * The stream's resolved plan, when the caller has resolved it already.
   * @default `resolveStreamPlan(config, stream)`
   */
  readonly plan?: StreamPlan;
  /** Columns of the batches that will be mapped, in order (as read from the source). */
  readonly sourceColumns: readonly SourceColumn[];
  readonly pseudonymizer: Pseudonymizer;
  /** Lands in `_run_id`. */
  readonly runId: string;
  /** Lands in `_extracted_at`. */
  readonly extractedAt: Date;
  /** How `_source_seq` is filled (`databaseSourceSeq` or `fileSourceSeq` of mapping/version.ts). */
  readonly sourceSeq: SourceSeq;
  /**
   * Where the rows come from, which decides the zone a time written without an offset is read in:
   * `source.timeZone` for a database, `fileDrop.timeZone` for a dropped file (a database operator
   * may also take file drops, each with its own zone).
   * @default `fileDrop` for a file-drop operator, else `database`
   */
  readonly origin?: 'database' | 'fileDrop';
  /**
   * Source column whose value lands in `_cursor`.
   * @default `streams.<stream>.cursor`, else the column mapped to the canonical cursor field
   */
  readonly cursorColumn?: string;
}

/** Unmapped enumeration values seen by a mapper, per canonical field. */
export interface UnmappedValues {
  readonly count: number;
  /** Up to {@link MAX_UNMAPPED_SAMPLES} distinct operator values that had no mapping. */
  readonly samples: readonly string[];
}

/** Distinct unmapped values remembered per field (for logs and alarms; enumeration values are not personal). */
export const MAX_UNMAPPED_SAMPLES = 10;

export interface RowMapper {
  /** The landed columns, aligned with `LandedBatch.columns`. */
  readonly columns: readonly LandedColumn[];
  /** Maps one batch. Throws {@link CoercionError} on the first value that cannot be converted exactly. */
  map(batch: SourceBatch): LandedBatch;
  /** Unmapped enumeration values per canonical field, counted over every batch mapped so far. */
  unmappedCounts(): Record<string, number>;
  /** Counts and samples of unmapped enumeration values per canonical field. */
  unmapped(): Record<string, UnmappedValues>;
}

/** How one landed column is produced. */
type ColumnPlan =
  | { readonly constant: LandedValue }
  /** `start` plus the row's ordinal over every batch mapped (file drops' `_source_seq`). */
  | { readonly ordinal: bigint }
  | {
      readonly sourceIndex: number;
      /** Undefined: the text lands as it is. */
      readonly convert: Converter | undefined;
      readonly nullable: boolean;
      readonly field: string;
      readonly column: string;
      readonly personal: boolean;
      /**
       * Set for a converter made by `buildConverter`: its source column, landed type and source
       * kind, which are all its values depend on (the config path and nullability only shape its
       * errors and MySQL zero dates). Two columns with one key land equal values.
       */
      readonly shareKey?: string;
      /** With `shareKey`: what the converter was built from. */
      readonly target?: ConverterTarget;
      /**
       * Set on the column whose pass also lands `_cursor_us`: after `convert` returned a number,
       * the microsecond instant of the same text.
       */
      readonly micros?: () => bigint;
    };

const TEMPORAL_KINDS = new Set(['timestamp', 'timestamptz', 'date', 'text']);

/** Thrown inside the column loops for a NULL in a required column; turned into a CoercionError. */
const MISSING = Symbol('NULL in a required column');

const isCursor = (landedName: string) => landedName === '_cursor' || landedName === '_cursor_us';

function shareKeyOf(sourceIndex: number, type: LandedColumn['type'], kind: SourceColumn['kind']): string {
  return `${sourceIndex} ${JSON.stringify(type)} ${kind}`;
}

function findColumn(columns: readonly SourceColumn[], name: string): number {
  const exact = columns.findIndex((c) => c.name === name);
  if (exact >= 0) return exact;
  const lower = name.toLowerCase();
  const matches = columns.flatMap((c, i) => (c.name.toLowerCase() === lower ? [i] : []));
  return matches.length === 1 ? matches[0]! : -1;
}

/** Builds the mapper of one stream; throws {@link MappingError} when the source cannot feed it. */
export function createRowMapper(options: RowMapperOptions): RowMapper {
  const { config, stream, sourceColumns, pseudonymizer } = options;
  const plan = options.plan ?? resolveStreamPlan(config, stream);
  const operatorId = plan.operatorId;
  if (plan.stream !== stream) {
    throw new MappingError(operatorId, stream, `the plan given is the plan of stream ${plan.stream}`);
  }
  if (!plan.configured) {
    throw new MappingError(operatorId, stream, `stream ${stream} is not configured (streams.${stream} is missing)`);
  }
  const canonical = CANONICAL_STREAMS[stream];
  const zone = zoneConverter(options.origin === 'fileDrop' ? plan.fileDropTimeZone : plan.timeZone);
  const columns = landedColumnsOf(plan);
  const fieldsByName = new Map<string, FieldPlan>(plan.fields.map((f) => [f.name, f]));
  const unmappedStats = new Map<string, { count: number; samples: Set<string> }>();

  const cursorColumn = options.cursorColumn ?? plan.cursor.column;
  if (cursorColumn === undefined) {
    throw new MappingError(
      operatorId,
      stream,
      `no cursor column: set streams.${stream}.cursor or map streams.${stream}.columns.${canonical.cursor}`,
    );
  }

  // Where the cursor column comes from, for messages.
  const cursorPath = options.cursorColumn !== undefined ? `streams.${stream}.cursor` : plan.cursor.configPath;

  const sourceIndex = (field: string, column: string, configPath: string): number => {
    const index = findColumn(sourceColumns, column);
    if (index < 0) {
      throw new MappingError(
        operatorId,
        stream,
        `${field} is mapped to column ${column} (${configPath}), which the source does not have; it has ${sourceColumns
          .map((c) => c.name)
          .join(', ')}`,
      );
    }
    return index;
  };

  // The key names a failing row in messages only when it lands in clear.
  const pkField = fieldsByName.get(canonical.primaryKey);
  const pkIndex =
    pkField && pkField.column !== undefined && pkField.treatment === 'keep' && !pkField.field.personal
      ? findColumn(sourceColumns, pkField.column)
      : -1;

  const { sourceSeq } = options;
  const plans: ColumnPlan[] = columns.map((landed): ColumnPlan => {
    if (landed.name === '_run_id') return { constant: options.runId };
    // A row read from the source is never a tombstone (the key audit lands those).
    if (landed.name === '_deleted') return { constant: false };
    if (landed.name === '_extracted_at') return { constant: options.extractedAt.getTime() };
    if (landed.name === '_source_seq') {
      return sourceSeq.kind === 'constant' ? { constant: sourceSeq.value } : { ordinal: sourceSeq.start };
    }
    if (landed.name === '_cursor' || landed.name === '_cursor_us') {
      const index = sourceIndex(landed.name, cursorColumn, cursorPath);
      const source = sourceColumns[index]!;
      if (!TEMPORAL_KINDS.has(source.kind)) {
        throw new MappingError(
          operatorId,
          stream,
          `cursor column ${source.name} is ${source.sourceType}; the cursor must be a timestamp or date column (set streams.${stream}.cursor)`,
        );
      }
      const target = { kind: source.kind, nullable: false, configPath: cursorPath, zone };
      const plan = {
        sourceIndex: index,
        nullable: false,
        field: landed.name,
        column: source.name,
        personal: false,
      };
      return landed.name === '_cursor'
        ? {
            ...plan,
            convert: buildConverter({ ...target, type: landed.type }),
            shareKey: shareKeyOf(index, landed.type, source.kind),
            target: { ...target, type: landed.type },
          }
        : { ...plan, convert: instantMicrosConverter(target) };
    }

    const fieldName = landed.field ?? landed.name;
    const fieldPlan = fieldsByName.get(fieldName);
    if (!fieldPlan) throw new MappingError(operatorId, stream, `landed column ${landed.name} has no canonical field`);
    const { field, configPath } = fieldPlan;
    const isSourceColumn = landed.name !== field.name;
    let column = fieldPlan.column;
    if (column === undefined && field.name === canonical.cursor && plan.cursor.explicit) {
      // The canonical cursor field is not mapped but a cursor column is configured: it carries the same time.
      column = cursorColumn;
    }
    if (column === undefined) {
      if (!landed.nullable) {
        throw new MappingError(
          operatorId,
          stream,
          `${field.name} is required but not mapped; map it in ${configPath}: <source column>`,
        );
      }
      return { constant: null };
    }
    const index = sourceIndex(field.name, column, configPath);
    const source = sourceColumns[index]!;
    const treatment = landed.treatment ?? 'keep';
    const personal = field.personal || treatment === 'pseudonymize';
    const base = { sourceIndex: index, nullable: landed.nullable, column: source.name, personal };

    if (treatment === 'pseudonymize') {
      // An enumeration's `_source` column is pseudonymized too, so a clear value never lands.
      // Key and reference fields are hashed in the source's key form, so they join as in the source.
      const input = pseudonymInput(stream, field.name, plan.keyComparison);
      return {
        ...base,
        field: landed.name,
        convert: (text) => pseudonymizer.pseudonymize(input(text)),
      };
    }
    if (isSourceColumn) return { ...base, field: landed.name, convert: undefined };
    if (field.values) {
      return { ...base, field: field.name, convert: enumerationConverter(field, fieldPlan.values, unmappedStats) };
    }
    if (!isCompatible(source.kind, landed.type)) {
      throw new MappingError(
        operatorId,
        stream,
        `${field.name} is ${typeLabel(landed.type)} but is mapped to column ${source.name} of type ${source.sourceType}; map a compatible column in ${configPath}`,
      );
    }
    if (landed.type.kind === 'string') return { ...base, field: field.name, convert: undefined };
    const target = { type: landed.type, kind: source.kind, nullable: landed.nullable, configPath, zone };
    return {
      ...base,
      field: field.name,
      convert: buildConverter(target),
      shareKey: shareKeyOf(index, landed.type, source.kind),
      target,
    };
  });
  /**
   * Per column, an earlier column whose converter lands the same values from the same source
   * column (e.g. `_cursor` and the canonical cursor field), or -1: its values are copied instead of
   * converting the text again.
   */
  const sameAs = plans.map((plan, c) => {
    if (!('shareKey' in plan) || plan.shareKey === undefined) return -1;
    return plans.findIndex((other, o) => o < c && 'shareKey' in other && other.shareKey === plan.shareKey);
  });
  /**
   * `_cursor_us` is the instant of the cursor column in microseconds, and that column's text is
   * parsed for a TIMESTAMP column before it (`_cursor`, or the canonical cursor field): that
   * column's pass lands `_cursor_us` too, from the same parse ({@link timestampMicrosConverter}).
   */
  const microsColumn = columns.findIndex((c) => c.name === '_cursor_us');
  const microsPlan = plans[microsColumn];
  if (microsPlan && 'sourceIndex' in microsPlan) {
    const key = shareKeyOf(microsPlan.sourceIndex, { kind: 'timestamp' }, sourceColumns[microsPlan.sourceIndex]!.kind);
    const from = plans.findIndex(
      (p, c) => c < microsColumn && sameAs[c] === -1 && 'shareKey' in p && p.shareKey === key,
    );
    const plan = plans[from];
    if (plan && 'target' in plan && plan.target) {
      const pair = timestampMicrosConverter(plan.target);
      plans[from] = { ...plan, convert: pair.convert, micros: pair.micros };
    }
  }

  let checkedColumns: readonly SourceColumn[] | undefined;
  const checkColumns = (batch: SourceBatch) => {
    if (batch.columns === checkedColumns) return;
    const same =
      batch.columns.length === sourceColumns.length &&
      batch.columns.every((c, i) => c.name === sourceColumns[i]?.name && c.kind === sourceColumns[i]?.kind);
    if (!same) {
      throw new MappingError(
        operatorId,
        stream,
        `batch columns (${batch.columns.map((c) => c.name).join(', ')}) differ from the columns the mapper was built for (${sourceColumns
          .map((c) => c.name)
          .join(', ')})`,
      );
    }
    checkedColumns = batch.columns;
  };

  const rowKey = (batch: SourceBatch, row: number): string | undefined => {
    if (pkIndex < 0) return undefined;
    const value = batch.rows[row]?.[pkIndex];
    return value === null || value === undefined ? undefined : `${canonical.primaryKey} ${quoteValue(value)}`;
  };

  const fail = (
    batch: SourceBatch,
    plan: Extract<ColumnPlan, { sourceIndex: number }>,
    row: number,
    value: string | null,
    problem: string,
    hint: string,
    cause?: unknown,
  ): CoercionError => {
    const key = rowKey(batch, row);
    return new CoercionError(
      {
        operatorId,
        stream,
        field: plan.field,
        column: plan.column,
        value,
        personal: plan.personal,
        problem,
        hint,
        rowIndex: row,
        ...(key ? { rowKey: key } : {}),
      },
      cause === undefined ? undefined : { cause },
    );
  };

  /** Rows mapped so far, over every batch (the ordinal of the next row). */
  let rowsMapped = 0;

  return {
    columns,

    map(batch: SourceBatch): LandedBatch {
      checkColumns(batch);
      const rows = batch.rows;
      const n = rows.length;
      const width = sourceColumns.length;
      if (sourceSeq.kind === 'ordinal' && rowsMapped + n > sourceSeq.maxRows) {
        throw new MappingError(
          operatorId,
          stream,
          `more than ${sourceSeq.maxRows} rows in one input; _source_seq numbers rows within one second of receipt, so split the file`,
        );
      }
      for (let r = 0; r < n; r++) {
        if (rows[r]!.length !== width) {
          throw new MappingError(
            operatorId,
            stream,
            `row #${r} of the batch has ${rows[r]!.length} values for ${width} columns`,
          );
        }
      }
      const out: LandedValue[][] = new Array(plans.length);
      /** The `_cursor_us` values landed by the pass of the column with `micros`. */
      let microsLanded: (bigint | undefined)[] | undefined;
      for (let c = 0; c < plans.length; c++) {
        const plan = plans[c]!;
        const values: LandedValue[] = new Array(n);
        if ('constant' in plan) {
          values.fill(plan.constant);
        } else if ('ordinal' in plan) {
          const first = plan.ordinal + BigInt(rowsMapped);
          for (let r = 0; r < n; r++) values[r] = first + BigInt(r);
        } else {
          const { sourceIndex: idx, convert, nullable } = plan;
          let r = 0;
          try {
            if (convert === undefined) {
              for (; r < n; r++) {
                const text = rows[r]![idx] as string | null;
                if (text === null && !nullable) throw MISSING;
                values[r] = text;
              }
            } else if (plan.micros !== undefined) {
              // The column that lands _cursor_us too (see microsColumn): as below, plus the µs.
              const micros: (bigint | undefined)[] = new Array(n);
              microsLanded = micros;
              for (; r < n; r++) {
                const text = rows[r]![idx] as string | null;
                if (text === null) {
                  if (!nullable) throw MISSING;
                  values[r] = null;
                } else {
                  const v = convert(text);
                  if (v === null) {
                    if (!nullable) throw MISSING;
                  } else {
                    micros[r] = plan.micros();
                  }
                  values[r] = v;
                }
              }
            } else if (c === microsColumn && microsLanded !== undefined) {
              // Where that column landed a value, its µs are this column's; NULLs are decided here.
              for (; r < n; r++) {
                const us = microsLanded[r];
                if (us !== undefined) {
                  values[r] = us;
                  continue;
                }
                const text = rows[r]![idx] as string | null;
                if (text === null) {
                  if (!nullable) throw MISSING;
                  values[r] = null;
                } else {
                  const v = convert(text);
                  if (v === null && !nullable) throw MISSING;
                  values[r] = v;
                }
              }
            } else if (sameAs[c]! >= 0) {
              // A value the earlier column landed is this column's too: that converter returned
              // it for the same text. NULLs (a NULL or a zero date there) are decided here again.
              const landedBefore = out[sameAs[c]!]!;
              for (; r < n; r++) {
                const before = landedBefore[r]!;
                if (before !== null) {
                  values[r] = before;
                  continue;
                }
                const text = rows[r]![idx] as string | null;
                if (text === null) {
                  if (!nullable) throw MISSING;
                  values[r] = null;
                } else {
                  const v = convert(text);
                  if (v === null && !nullable) throw MISSING;
                  values[r] = v;
                }
              }
            } else {
              for (; r < n; r++) {
                const text = rows[r]![idx] as string | null;
                if (text === null) {
                  if (!nullable) throw MISSING;
                  values[r] = null;
                } else {
                  const v = convert(text);
                  if (v === null && !nullable) throw MISSING;
                  values[r] = v;
                }
              }
            }
          } catch (e) {
            const text = (rows[r]![idx] as string | null) ?? null;
            if (e === MISSING) {
              throw fail(
                batch,
                plan,
                r,
                null,
                `but ${plan.field} is required (${plan.field === canonical.primaryKey ? 'primary key' : isCursor(plan.field) || plan.field === canonical.cursor ? 'cursor' : 'not nullable'})`,
                `fix the source row, or map a column without NULLs in ${isCursor(plan.field) ? cursorPath : `streams.${stream}.columns.${plan.field}`}`,
              );
            }
            if (e instanceof ValueProblem) throw fail(batch, plan, r, text, e.problem, e.hint);
            throw fail(batch, plan, r, text, 'could not be converted', 'fix the source', e);
          }
        }
        out[c] = values;
      }
      rowsMapped += n;
      return { rowCount: n, columns: out };
    },

    unmappedCounts(): Record<string, number> {
      return Object.fromEntries([...unmappedStats].map(([f, s]) => [f, s.count]));
    },

    unmapped(): Record<string, UnmappedValues> {
      return Object.fromEntries([...unmappedStats].map(([f, s]) => [f, { count: s.count, samples: [...s.samples] }]));
    },
  };
}

/**
 * The value a source value of a field lands as, for a field landed as it is (a string) or through
 * its enumeration value map: the same conversion {@link createRowMapper} applies, for the money
 * totals' grouping values read from the source (extract/money-totals.ts).
 */
export function landedTextOf(
  config: OperatorConfig,
  stream: StreamName,
  fieldName: string,
): (text: string | null) => string | null {
  const fieldPlan = resolveStreamPlan(config, stream).fields.find((f) => f.name === fieldName);
  if (!fieldPlan) throw new MappingError(config.operatorId, stream, `${fieldName} is not a field of ${stream}`);
  if (!fieldPlan.field.values) return (text) => text;
  const convert = enumerationConverter(fieldPlan.field, fieldPlan.values, new Map());
  return (text) => (text === null ? null : (convert(text) as string));
}

function enumerationConverter(
  field: CanonicalField,
  values: Readonly<Record<string, string>> | undefined,
  stats: Map<string, { count: number; samples: Set<string> }>,
): Converter {
  const canonicalValues = new Set(field.values ?? []);
  // A Map, not the config object: an operator value such as "constructor" must not hit Object.prototype.
  const map = new Map<string, string>(values ? Object.entries(values) : []);
  const stat = { count: 0, samples: new Set<string>() };
  stats.set(field.name, stat);
  const lookup = (value: string): string | undefined =>
    map.get(value) ?? (canonicalValues.has(value) ? value : undefined);
  return (text) => {
    let value = lookup(text);
    if (value === undefined) {
      // CHAR(n) columns come padded with blanks.
      const trimmed = text.trim();
      if (trimmed !== text) value = lookup(trimmed);
    }
    if (value !== undefined) return value;
    stat.count++;
    if (stat.samples.size < MAX_UNMAPPED_SAMPLES) stat.samples.add(text.length > 100 ? text.slice(0, 100) : text);
    return UNMAPPED_VALUE;
  };
}
