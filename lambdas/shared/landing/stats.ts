/**
 * What a window landed, accumulated batch by batch for its manifest and for reconciliation: row
 * count, cursor range, the range of every other timestamp column (publishing bounds the partitions
 * a MERGE reads with them), exact money sums and NULL counts per column.
 */

import type { WindowStatsSnapshot } from '../contracts/steps.ts';
import type { LandedColumn } from '../landed-schema.ts';
import { formatUnscaled, parseUnscaled } from '../parquet/decimal-text.ts';
import type { LandedBatch } from '../types.ts';

interface GroupSums {
  readonly values: readonly (string | null)[];
  rows: number;
  /** Unscaled, in the order of the money columns. */
  readonly sums: bigint[];
}

interface TimeColumn {
  readonly index: number;
  readonly name: string;
  min: number;
  max: number;
}

interface MoneyColumn {
  readonly index: number;
  readonly name: string;
  readonly scale: number;
  sum: bigint;
}

/**
 * The statistics of some batches in mergeable form (structured-cloneable, exact): what a worker
 * thread computes for the batches it encodes, added to the window's by {@link WindowStats.merge}.
 */
export interface WindowStatsPart {
  readonly rowCount: number;
  readonly minCursor: number;
  readonly maxCursor: number;
  /** Unscaled sums, in the order of the money columns. */
  readonly moneySums: readonly bigint[];
  /** [min, max] epoch milliseconds, in the order of the timestamp columns. */
  readonly timeRanges: readonly (readonly [number, number])[];
  /** Per landed column. */
  readonly nullCounts: readonly number[];
  /** Per tuple of grouping values: rows and unscaled sums in the order of the money columns. */
  readonly moneyGroups: readonly {
    readonly values: readonly (string | null)[];
    readonly rows: number;
    readonly sums: readonly bigint[];
  }[];
}

/** Accumulates {@link WindowStatsSnapshot} over landed batches aligned with `columns`. */
export class WindowStats {
  rowCount = 0;
  /** Epoch milliseconds; +Infinity until a row is seen. */
  minCursor = Number.POSITIVE_INFINITY;
  maxCursor = Number.NEGATIVE_INFINITY;
  private readonly money: MoneyColumn[] = [];
  private readonly times: TimeColumn[] = [];
  private readonly nulls: number[];
  private readonly groups = new Map<string, GroupSums>();

  /**
   * @param groupBy indices of the columns whose value tuples the money sums are also grouped by
   *   (landed-schema.ts `moneyGroupIndices`); none by default.
   */
  constructor(
    private readonly columns: readonly LandedColumn[],
    private readonly cursorIndex: number,
    from?: WindowStatsSnapshot,
    private readonly groupBy: readonly number[] = [],
  ) {
    columns.forEach((column, index) => {
      if (column.money && column.type.kind === 'decimal') {
        const previous = from?.moneySums[column.name];
        const sum = previous === undefined ? 0n : parseUnscaled(previous, column.type.scale);
        this.money.push({ index, name: column.name, scale: column.type.scale, sum });
      }
    });
    columns.forEach((column, index) => {
      if (column.type.kind !== 'timestamp' || index === cursorIndex || column.field === undefined) return;
      const previous = from?.timeRanges?.[column.name];
      this.times.push({
        index,
        name: column.name,
        min: previous ? Date.parse(previous.min) : Number.POSITIVE_INFINITY,
        max: previous ? Date.parse(previous.max) : Number.NEGATIVE_INFINITY,
      });
    });
    this.nulls = columns.map((c) => from?.nullCounts[c.name] ?? 0);
    if (this.grouping) {
      for (const g of from?.moneyGroups ?? []) {
        const target = this.group(g.values);
        target.rows += g.rows;
        this.money.forEach((m, i) => {
          const text = g.sums[m.name];
          if (text !== undefined) target.sums[i]! += parseUnscaled(text, m.scale);
        });
      }
    }
    if (from) {
      this.rowCount = from.rowCount;
      if (from.minCursor !== null) this.minCursor = Date.parse(from.minCursor);
      if (from.maxCursor !== null) this.maxCursor = Date.parse(from.maxCursor);
    }
  }

  /** Adds a batch whose cursor values have already been checked to be numbers. */
  add(batch: LandedBatch): void {
    const n = batch.rowCount;
    this.rowCount += n;
    const cursor = batch.columns[this.cursorIndex]! as readonly number[];
    let min = this.minCursor;
    let max = this.maxCursor;
    for (let i = 0; i < n; i++) {
      const v = cursor[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.minCursor = min;
    this.maxCursor = max;
    for (const m of this.money) {
      const values = batch.columns[m.index]!;
      let sum = m.sum;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v === 'bigint') sum += v;
      }
      m.sum = sum;
    }
    if (this.grouping) this.addGroups(batch);
    for (const t of this.times) {
      const values = batch.columns[t.index]!;
      let tmin = t.min;
      let tmax = t.max;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number') continue;
        if (v < tmin) tmin = v;
        if (v > tmax) tmax = v;
      }
      t.min = tmin;
      t.max = tmax;
    }
    for (let c = 0; c < this.columns.length; c++) {
      if (!this.columns[c]!.nullable) continue;
      const values = batch.columns[c]!;
      let nulls = 0;
      for (let i = 0; i < n; i++) if (values[i] === null) nulls++;
      this.nulls[c]! += nulls;
    }
  }

  /** These statistics in mergeable form (of a fresh instance: the batches added to it). */
  part(): WindowStatsPart {
    return {
      rowCount: this.rowCount,
      minCursor: this.minCursor,
      maxCursor: this.maxCursor,
      moneySums: this.money.map((m) => m.sum),
      timeRanges: this.times.map((t) => [t.min, t.max] as const),
      nullCounts: [...this.nulls],
      moneyGroups: [...this.groups.values()].map((g) => ({ values: g.values, rows: g.rows, sums: [...g.sums] })),
    };
  }

  /** Adds the statistics of batches counted elsewhere (same columns). */
  merge(part: WindowStatsPart): void {
    this.rowCount += part.rowCount;
    if (part.minCursor < this.minCursor) this.minCursor = part.minCursor;
    if (part.maxCursor > this.maxCursor) this.maxCursor = part.maxCursor;
    this.money.forEach((m, i) => {
      m.sum += part.moneySums[i]!;
    });
    this.times.forEach((t, i) => {
      const [min, max] = part.timeRanges[i]!;
      if (min < t.min) t.min = min;
      if (max > t.max) t.max = max;
    });
    for (let c = 0; c < this.nulls.length; c++) this.nulls[c]! += part.nullCounts[c]!;
    for (const g of part.moneyGroups) {
      const target = this.group(g.values);
      target.rows += g.rows;
      g.sums.forEach((sum, i) => {
        target.sums[i]! += sum;
      });
    }
  }

  /** Whether money sums are grouped: grouping columns and money columns both exist. */
  private get grouping(): boolean {
    return this.groupBy.length > 0 && this.money.length > 0;
  }

  private group(values: readonly (string | null)[]): GroupSums {
    // NUL marks a NULL value, SOH separates values (neither occurs in a currency or enumeration value).
    const key = values.map((v) => (v === null ? '\u0000' : v)).join('\u0001');
    let group = this.groups.get(key);
    if (!group) {
      group = { values: [...values], rows: 0, sums: this.money.map(() => 0n) };
      this.groups.set(key, group);
    }
    return group;
  }

  private addGroups(batch: LandedBatch): void {
    const keys = this.groupBy.map((c) => batch.columns[c]!);
    const money = this.money.map((m) => batch.columns[m.index]!);
    for (let i = 0; i < batch.rowCount; i++) {
      const values = keys.map((column) => {
        const v = column[i];
        return v === null || v === undefined ? null : String(v);
      });
      const group = this.group(values);
      group.rows++;
      for (let m = 0; m < money.length; m++) {
        const v = money[m]![i];
        if (typeof v === 'bigint') group.sums[m]! += v;
      }
    }
  }

  snapshot(): WindowStatsSnapshot {
    const empty = this.rowCount === 0;
    return {
      rowCount: this.rowCount,
      minCursor: empty ? null : new Date(this.minCursor).toISOString(),
      maxCursor: empty ? null : new Date(this.maxCursor).toISOString(),
      moneySums: Object.fromEntries(this.money.map((m) => [m.name, formatUnscaled(m.sum, m.scale)])),
      nullCounts: Object.fromEntries(this.columns.map((c, i) => [c.name, this.nulls[i]!])),
      timeRanges: Object.fromEntries(
        this.times
          .filter((t) => t.min <= t.max)
          .map((t) => [t.name, { min: new Date(t.min).toISOString(), max: new Date(t.max).toISOString() }]),
      ),
      ...(this.grouping
        ? {
            moneyGroups: [...this.groups.values()].map((g) => ({
              values: g.values,
              rows: g.rows,
              sums: Object.fromEntries(this.money.map((m, i) => [m.name, formatUnscaled(g.sums[i]!, m.scale)])),
            })),
          }
        : {}),
    };
  }
}
