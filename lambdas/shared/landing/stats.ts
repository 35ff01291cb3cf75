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

/**
 * A money group as the per-row loop reaches it: its sums, plus what was added to them in this batch
 * while that stays an exact double (a BigInt addition allocates; most batches never leave doubles).
 */
interface GroupLeaf {
  readonly group: GroupSums;
  /** Per money column: an exact partial sum, within ±`Number.MAX_SAFE_INTEGER`. */
  readonly pending: Float64Array;
}

/** Grouping values, one level per grouping column, down to a {@link GroupLeaf}. */
type GroupTrie = Map<string | null, GroupTrie | GroupLeaf>;

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * `sum + Σ values` over the bigints of `values[0..n)`, exactly: values that are safe integers are
 * added as doubles while the partial sum stays a safe integer (then every addition is exact), the
 * rest as bigints.
 */
function sumBigints(values: readonly unknown[], n: number, sum: bigint): bigint {
  let small = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'bigint') continue;
    // Exact when it is a safe integer; a bigint beyond ±(2^53 - 1) converts to a double beyond it.
    const x = Number(v);
    const t = small + x;
    if (t <= MAX_EXACT && t >= -MAX_EXACT && Number.isSafeInteger(x)) small = t;
    else sum += v;
  }
  return small === 0 ? sum : sum + BigInt(small);
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
  /** The same groups by their values, for the per-row loop (no key string per row). */
  private readonly trie: GroupTrie = new Map();
  private readonly leaves: GroupLeaf[] = [];

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
    // Grouped, the one pass over the money values adds them to the window's sums too.
    if (this.grouping) this.addGroups(batch);
    else for (const m of this.money) m.sum = sumBigints(batch.columns[m.index]!, n, m.sum);
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
    const depth = keys.length;
    const values: (string | null)[] = new Array(depth);
    /** The batch's part of the window's sums while it is an exact double (as in sumBigints). */
    const totals = new Float64Array(money.length);
    for (let i = 0; i < batch.rowCount; i++) {
      for (let k = 0; k < depth; k++) {
        const v = keys[k]![i];
        values[k] = v === null || v === undefined ? null : typeof v === 'string' ? v : String(v);
      }
      const leaf = this.leaf(values);
      leaf.group.rows++;
      const pending = leaf.pending;
      for (let m = 0; m < money.length; m++) {
        const v = money[m]![i];
        if (typeof v !== 'bigint') continue;
        const x = Number(v);
        if (!Number.isSafeInteger(x)) {
          leaf.group.sums[m]! += v;
          this.money[m]!.sum += v;
          continue;
        }
        const t = pending[m]! + x;
        if (t <= MAX_EXACT && t >= -MAX_EXACT) pending[m] = t;
        else leaf.group.sums[m]! += v;
        const total = totals[m]! + x;
        if (total <= MAX_EXACT && total >= -MAX_EXACT) totals[m] = total;
        else this.money[m]!.sum += v;
      }
    }
    for (let m = 0; m < totals.length; m++) if (totals[m] !== 0) this.money[m]!.sum += BigInt(totals[m]!);
    for (const leaf of this.leaves) {
      const pending = leaf.pending;
      for (let m = 0; m < pending.length; m++) {
        if (pending[m] === 0) continue;
        leaf.group.sums[m]! += BigInt(pending[m]!);
        pending[m] = 0;
      }
    }
  }

  /** The group of a tuple of grouping values: {@link group}'s, found without building its key. */
  private leaf(values: readonly (string | null)[]): GroupLeaf {
    let node = this.trie;
    const last = values.length - 1;
    for (let k = 0; k < last; k++) {
      let next = node.get(values[k]!) as GroupTrie | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(values[k]!, next);
      }
      node = next;
    }
    let leaf = node.get(values[last]!) as GroupLeaf | undefined;
    if (leaf === undefined) {
      leaf = { group: this.group(values), pending: new Float64Array(this.money.length) };
      node.set(values[last]!, leaf);
      this.leaves.push(leaf);
    }
    return leaf;
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
