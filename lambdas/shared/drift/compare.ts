/**
 * Schema drift: how a source table's live columns compare with what the stream's mapping needs and
 * with the columns seen by the last successful run (the stream's fingerprint). Pure functions; the
 * catalog read and the sync state are in `check.ts`.
 *
 * | change                                     | mapped column                                 | unmapped column |
 * | ------------------------------------------ | --------------------------------------------- | --------------- |
 * | gone from the table                        | `dropped` (or `renamed` when a new column of the same type appeared): fails the stream | `removed`: reported |
 * | type changed, the landed type still holds it | `widened`: accepted and reported            | `retyped`: reported |
 * | type changed, the landed type cannot hold it | `incompatible`: fails the stream            | `retyped`: reported |
 * | new column                                 | —                                             | `added`: reported, never read |
 *
 * Only names and types are compared or reported, never a value.
 */
import { createHash } from 'node:crypto';
import type { FieldType, StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { resolveStreamPlan } from '../config/stream-plan.ts';
import { isCompatible, typeLabel } from '../mapping/coerce.ts';
import type { SourceKind } from '../types.ts';

/** A column as a fingerprint records it: name and declared type, never a value. */
export interface SeenColumn {
  readonly name: string;
  /** Declared type as the database (or a file's header inference) shows it, e.g. `numeric(18,2)`. */
  readonly type: string;
  readonly kind: SourceKind;
  readonly precision?: number;
  readonly scale?: number;
}

/** The columns of a stream's table (or a file's header) at one point, and their hash. */
export interface SchemaFingerprint {
  /** SHA-256 (hex) of the sorted `name type` lines: equal columns give an equal hash. */
  readonly hash: string;
  readonly columns: readonly SeenColumn[];
}

/** A source column the mapping reads, and the landed type it feeds. */
export interface NeededColumn {
  readonly column: string;
  /** Canonical fields it feeds (a column can feed several, e.g. the cursor and a time field). */
  readonly fields: readonly string[];
  /** The landed type of its first field (the cursor's is a timestamp). */
  readonly landed: FieldType;
  /** An enumeration mapped through `values`: any text type feeds it. */
  readonly enumerated: boolean;
  /** The key or cursor: the stream cannot be read without it. */
  readonly required: boolean;
}

export type ColumnChangeKind = 'added' | 'removed' | 'retyped' | 'widened' | 'dropped' | 'renamed' | 'incompatible';

/** One column that drifted. */
export interface ColumnChange {
  readonly change: ColumnChangeKind;
  readonly column: string;
  /** Canonical fields the column feeds (mapped columns only). */
  readonly fields?: readonly string[];
  /** Type before (from the fingerprint), when known. */
  readonly from?: string;
  /** Type now, when the column exists. */
  readonly to?: string;
  /** For `renamed`: the new column that looks like it (same type, not seen before). */
  readonly renamedTo?: string;
  /** For changes that fail the stream: what to change in config (or at the source). */
  readonly fix?: string;
}

/** Changes that fail the stream. */
export const BREAKING_CHANGES: ReadonlySet<ColumnChangeKind> = new Set(['dropped', 'renamed', 'incompatible']);

export function isBreaking(change: ColumnChange): boolean {
  return BREAKING_CHANGES.has(change.change);
}

/** The source columns a database stream's mapping reads (dropped fields are never read, so never needed). */
export function neededColumns(config: OperatorConfig, stream: StreamName): NeededColumn[] {
  const plan = resolveStreamPlan(config, stream);
  if (!plan.configured) return [];
  const byColumn = new Map<string, NeededColumn>();
  const keyColumn = plan.key.column;
  const cursorColumn = plan.cursor.column;
  for (const { field, column, treatment, valueType } of plan.fields) {
    if (column === undefined || treatment === 'drop') continue;
    const existing = byColumn.get(column);
    if (existing) {
      byColumn.set(column, { ...existing, fields: [...existing.fields, field.name] });
      continue;
    }
    const pseudonymized = treatment === 'pseudonymize';
    byColumn.set(column, {
      column,
      fields: [field.name],
      // A pseudonymized field lands as text (the HMAC), but its source value is read as the field's type.
      landed: pseudonymized && field.type.kind !== 'string' ? field.type : valueType,
      enumerated: field.values !== undefined,
      required: column === keyColumn || column === cursorColumn,
    });
  }
  if (cursorColumn !== undefined && !byColumn.has(cursorColumn)) {
    byColumn.set(cursorColumn, {
      column: cursorColumn,
      fields: ['_cursor'],
      landed: { kind: 'timestamp' },
      enumerated: false,
      required: true,
    });
  }
  return [...byColumn.values()];
}

/** The fingerprint of a set of columns (order-independent). */
export function fingerprintOf(columns: readonly SeenColumn[]): SchemaFingerprint {
  const lines = columns.map((c) => `${c.name} ${c.type.toLowerCase()}`).sort();
  return {
    hash: createHash('sha256').update(lines.join('\n'), 'utf8').digest('hex'),
    columns: columns.map((c) => ({
      name: c.name,
      type: c.type,
      kind: c.kind,
      ...(c.precision !== undefined ? { precision: c.precision } : {}),
      ...(c.scale !== undefined ? { scale: c.scale } : {}),
    })),
  };
}

/** Largest absolute value of an integer type, as a number of decimal digits and whether it fits 32/64 bits. */
function integerWidth(column: SeenColumn): { bits: number; digits: number } | undefined {
  const t = column.type.toLowerCase();
  const unsigned = /\bunsigned\b/.test(t);
  const base = /^(tinyint|smallint|int2|mediumint|integer|int4|int|bigint|int8|year|bit)\b/.exec(t)?.[1];
  if (!base) return undefined;
  const bits =
    base === 'tinyint' || base === 'year'
      ? 8
      : base === 'smallint' || base === 'int2'
        ? 16
        : base === 'mediumint'
          ? 24
          : base === 'bigint' || base === 'int8' || base === 'bit'
            ? 64
            : 32;
  // Unsigned values need one more bit of a signed landed type.
  const signedBits = unsigned ? bits + 1 : bits;
  return { bits: signedBits, digits: String(2n ** BigInt(signedBits - 1)).length };
}

/**
 * Whether the live column's type can feed the landed type: its kind must be one the coercer
 * converts (an enumeration mapped through `values` reads any type as text), and, as far as the
 * declared types tell, every value must fit: a decimal keeps its scale and integer digits, an
 * integer fits the landed width. Unknown precision (an unconstrained `numeric`) fits only text.
 */
export function holds(column: SeenColumn, needed: NeededColumn): { ok: boolean; kindOk: boolean; why?: string } {
  const landed = needed.landed;
  const label = typeLabel(landed);
  if (needed.enumerated || landed.kind === 'string') return { ok: true, kindOk: true };
  if (!isCompatible(column.kind, landed))
    return { ok: false, kindOk: false, why: `${column.type} cannot feed the landed ${label}` };
  const no = (why: string) => ({ ok: false, kindOk: true, why });
  if (column.kind === 'decimal') {
    if (landed.kind === 'decimal') {
      if (column.precision === undefined || column.scale === undefined)
        return no(`${column.type} has no declared precision, so the landed ${label} may not hold its values`);
      if (column.scale > landed.scale || column.precision - column.scale > landed.precision - landed.scale)
        return no(`the landed ${label} does not hold ${column.type}`);
    } else if (landed.kind === 'int32' || landed.kind === 'int64') {
      const maxDigits = landed.kind === 'int32' ? 9 : 18;
      if (column.precision === undefined || column.scale !== 0 || column.precision > maxDigits)
        return no(`the landed ${label} does not hold ${column.type}`);
    }
  } else if (column.kind === 'integer') {
    const width = integerWidth(column);
    if (width) {
      if ((landed.kind === 'int32' && width.bits > 32) || (landed.kind === 'int64' && width.bits > 64))
        return no(`the landed ${label} does not hold ${column.type}`);
      if (landed.kind === 'decimal' && width.digits > landed.precision - landed.scale)
        return no(`the landed ${label} does not hold ${column.type}`);
    }
  }
  return { ok: true, kindOk: true };
}

function fixFor(
  stream: StreamName,
  needed: NeededColumn,
  kind: 'dropped' | 'renamed' | 'incompatible',
  to?: SeenColumn,
  renamedTo?: string,
): string {
  const field = needed.fields.find((f) => !f.startsWith('_')) ?? needed.fields[0] ?? '';
  const path = needed.fields[0] === '_cursor' ? `streams.${stream}.cursor` : `streams.${stream}.columns.${field}`;
  switch (kind) {
    case 'renamed':
      return `if the column was renamed, set ${path} to ${renamedTo}`;
    case 'dropped':
      return needed.required
        ? `map ${path} to the column that replaced it (the stream cannot be read without it)`
        : `map ${path} to the column that replaced it, or remove the mapping`;
    case 'incompatible':
      if (
        needed.landed.kind === 'decimal' &&
        to?.kind === 'decimal' &&
        to.precision !== undefined &&
        to.scale !== undefined
      ) {
        const scale = Math.max(to.scale, needed.landed.scale);
        const precision = Math.max(to.precision - to.scale, needed.landed.precision - needed.landed.scale) + scale;
        return `set ${path}.precision: ${Math.min(precision, 38)} and ${path}.scale: ${scale} (a new landed type: see the runbook), or restore the column's type`;
      }
      return `restore the column's type at the source, or map ${path} to a column whose type the landed ${typeLabel(needed.landed)} holds`;
  }
}

const sameName = (engine: 'postgres' | 'mysql') => (a: string, b: string) =>
  engine === 'postgres' ? a === b : a.toLowerCase() === b.toLowerCase();

const sameType = (a: SeenColumn, b: SeenColumn) => a.type.toLowerCase() === b.type.toLowerCase();

/**
 * Compares a table's live columns with what the mapping needs and with the last accepted
 * fingerprint (absent before the first successful run: then only the mapping is checked). Changes
 * come in column order: mapped columns first, then the others.
 */
export function compareSchema(input: {
  readonly engine: 'postgres' | 'mysql';
  readonly stream: StreamName;
  readonly needed: readonly NeededColumn[];
  readonly live: readonly SeenColumn[];
  readonly previous?: readonly SeenColumn[] | undefined;
}): ColumnChange[] {
  const { stream, needed, live, previous } = input;
  const eq = sameName(input.engine);
  const find = (list: readonly SeenColumn[] | undefined, name: string) => list?.find((c) => eq(c.name, name));
  const isNeeded = (name: string) => needed.some((n) => eq(n.column, name));
  const appeared = previous ? live.filter((c) => !find(previous, c.name)) : [];
  const changes: ColumnChange[] = [];
  for (const need of needed) {
    const now = find(live, need.column);
    const before = find(previous, need.column);
    const base = { column: need.column, fields: need.fields };
    if (!now) {
      const candidate = before ? appeared.find((c) => sameType(c, before) && !isNeeded(c.name)) : undefined;
      if (candidate) {
        changes.push({
          ...base,
          change: 'renamed',
          from: before?.type,
          renamedTo: candidate.name,
          to: candidate.type,
          fix: fixFor(stream, need, 'renamed', candidate, candidate.name),
        });
      } else {
        changes.push({
          ...base,
          change: 'dropped',
          ...(before ? { from: before.type } : {}),
          fix: fixFor(stream, need, 'dropped'),
        });
      }
      continue;
    }
    const fits = holds(now, need);
    if (!before || sameType(before, now)) {
      // Nothing to compare with (first run, or a newly mapped column): only a kind the coercer
      // cannot convert is refused here; values that do not fit fail the window one by one.
      if (!before && !fits.kindOk) {
        changes.push({
          ...base,
          change: 'incompatible',
          to: now.type,
          fix: `${fits.why}: ${fixFor(stream, need, 'incompatible', now)}`,
        });
      }
      continue;
    }
    // The type changed. A type the landed type did not hold before either is not made worse by a change of width.
    // A different kind of value (numbers now text, a naive time now zoned) is refused unless it lands as
    // text; an integer column that became a decimal is the one kind change a numeric landed type absorbs.
    const kindChanged =
      before.kind !== now.kind &&
      need.landed.kind !== 'string' &&
      !need.enumerated &&
      !(before.kind === 'integer' && now.kind === 'decimal');
    if (kindChanged) {
      changes.push({
        ...base,
        change: 'incompatible',
        from: before.type,
        to: now.type,
        fix: `values of ${now.type} are not what the landed ${typeLabel(need.landed)} was fed: ${fixFor(stream, need, 'incompatible', now)}`,
      });
    } else if (fits.ok || (fits.kindOk && !holds(before, need).ok)) {
      changes.push({ ...base, change: 'widened', from: before.type, to: now.type });
    } else {
      changes.push({
        ...base,
        change: 'incompatible',
        from: before.type,
        to: now.type,
        fix: `${fits.why}: ${fixFor(stream, need, 'incompatible', now)}`,
      });
    }
  }
  if (!previous) return changes;
  const renamedTo = new Set(changes.map((c) => c.renamedTo).filter((n): n is string => n !== undefined));
  for (const c of live) {
    if (isNeeded(c.name)) continue;
    const before = find(previous, c.name);
    if (!before) {
      if (!renamedTo.has(c.name)) changes.push({ change: 'added', column: c.name, to: c.type });
    } else if (!sameType(before, c)) {
      changes.push({ change: 'retyped', column: c.name, from: before.type, to: c.type });
    }
  }
  for (const c of previous) {
    if (!find(live, c.name) && !isNeeded(c.name)) changes.push({ change: 'removed', column: c.name, from: c.type });
  }
  return changes;
}

/** One change in words: `column bonus_code (text) added`, `column amount numeric(18,2) → numeric(20,2) widened`. */
export function describeChange(c: ColumnChange): string {
  const types = c.from && c.to ? `${c.from} → ${c.to}` : (c.to ?? c.from ?? '');
  const fields = c.fields && c.fields.length > 0 ? ` (field ${c.fields.join(', ')})` : '';
  switch (c.change) {
    case 'added':
      return `column ${c.column} (${types}) added (not read)`;
    case 'removed':
      return `column ${c.column} (${types}) removed (not read)`;
    case 'retyped':
      return `column ${c.column} retyped ${types} (not read)`;
    case 'widened':
      return `column ${c.column}${fields} retyped ${types}, which the landed type holds`;
    case 'renamed':
      return `column ${c.column}${fields} is gone${c.from ? ` (was ${c.from})` : ''}; new column ${c.renamedTo} (${c.to}) looks like its new name: ${c.fix}`;
    case 'dropped':
      return `column ${c.column}${fields} is gone${c.from ? ` (was ${c.from})` : ''}: ${c.fix}`;
    case 'incompatible':
      return `column ${c.column}${fields} retyped ${c.from ?? '?'} → ${c.to}: ${c.fix}`;
  }
}
