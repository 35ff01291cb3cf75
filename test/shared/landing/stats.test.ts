/**
 * Window statistics' money sums and groups against a plain BigInt reference, on generated batches
 * with values on both sides of the double's exact range.
 */
import { describe, expect, it } from 'vitest';
import type { LandedColumn } from '#shared/landed-schema';
import { WindowStats } from '#shared/landing/stats';
import type { LandedBatch, LandedValue } from '#shared/types';
import { random } from '../../helpers/random.ts';

const COLUMNS: LandedColumn[] = [
  { name: '_cursor', type: { kind: 'timestamp' }, nullable: false, description: '' },
  { name: 'currency', field: 'currency', type: { kind: 'string' }, nullable: true, description: '' },
  { name: 'status', field: 'status', type: { kind: 'string' }, nullable: true, description: '' },
  {
    name: 'stake',
    field: 'stake',
    type: { kind: 'decimal', precision: 38, scale: 2 },
    nullable: true,
    money: true,
    description: '',
  },
  {
    name: 'payout',
    field: 'payout',
    type: { kind: 'decimal', precision: 38, scale: 2 },
    nullable: true,
    money: true,
    description: '',
  },
];

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A money value: mostly cents, some near and beyond ±(2^53 - 1), some of 38 digits, some NULL. */
function money(rnd: () => number): LandedValue {
  const r = rnd();
  if (r < 0.05) return null;
  const sign = rnd() < 0.2 ? -1n : 1n;
  if (r < 0.75) return sign * BigInt(Math.floor(rnd() * 100_000));
  if (r < 0.85) return sign * (SAFE - BigInt(Math.floor(rnd() * 3)));
  if (r < 0.9) return sign * (SAFE + 1n + BigInt(Math.floor(rnd() * 3)));
  if (r < 0.95) return sign * (SAFE / 2n + BigInt(Math.floor(rnd() * 1000)));
  return sign * (10n ** 37n + BigInt(Math.floor(rnd() * 1e15)));
}

function batch(rows: number, rnd: () => number): LandedBatch {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const columns: LandedValue[][] = COLUMNS.map(() => []);
  for (let i = 0; i < rows; i++) {
    columns[0]!.push(1_700_000_000_000 + i);
    // NUL and SOH join the key of a group; tuples whose joined keys collide share a group.
    columns[1]!.push(pick(['EUR', 'SEK', null, 'a\u0001b', 'a', '\u0000']));
    columns[2]!.push(pick(['settled', 'open', null, 'c', 'b\u0001c', 7 as unknown as string]));
    columns[3]!.push(money(rnd));
    columns[4]!.push(money(rnd));
  }
  return { rowCount: rows, columns };
}

/** The statistics of batches computed the plain way: one BigInt addition per value, a key string per row. */
function reference(batches: readonly LandedBatch[]) {
  const sums = [0n, 0n];
  const groups = new Map<string, { values: (string | null)[]; rows: number; sums: bigint[] }>();
  for (const b of batches) {
    for (let i = 0; i < b.rowCount; i++) {
      const values = [1, 2].map((c) => {
        const v = b.columns[c]![i];
        return v === null || v === undefined ? null : String(v);
      });
      const key = values.map((v) => (v === null ? '\u0000' : v)).join('\u0001');
      let group = groups.get(key);
      if (!group) {
        group = { values, rows: 0, sums: [0n, 0n] };
        groups.set(key, group);
      }
      group.rows++;
      [3, 4].forEach((c, m) => {
        const v = b.columns[c]![i];
        if (typeof v === 'bigint') {
          sums[m]! += v;
          group.sums[m]! += v;
        }
      });
    }
  }
  return { sums, groups: [...groups.values()] };
}

describe('WindowStats money sums and groups', () => {
  it.each([1, 2, 3])('equal plain BigInt sums on generated batches (seed %i)', (seed) => {
    const rnd = random(seed);
    const batches = [batch(5000, rnd), batch(1, rnd), batch(20_000, rnd)];
    const stats = new WindowStats(COLUMNS, 0, undefined, [1, 2]);
    for (const b of batches) stats.add(b);
    const part = stats.part();
    const expected = reference(batches);
    expect(part.moneySums).toEqual(expected.sums);
    expect(part.moneyGroups).toEqual(expected.groups);
    // Without grouping columns the sums take their own pass.
    const ungrouped = new WindowStats(COLUMNS, 0);
    for (const b of batches) ungrouped.add(b);
    expect(ungrouped.part().moneySums).toEqual(expected.sums);
    expect(ungrouped.part().moneyGroups).toEqual([]);
    // Snapshots made of merged parts are those of one instance that saw every batch.
    const merged = new WindowStats(COLUMNS, 0, undefined, [1, 2]);
    for (const b of batches) {
      const one = new WindowStats(COLUMNS, 0, undefined, [1, 2]);
      one.add(b);
      merged.merge(one.part());
    }
    expect(merged.snapshot()).toEqual(stats.snapshot());
  });

  it('sums past the exact range of a double, exactly', () => {
    const values = [SAFE, SAFE, 1n, -SAFE, SAFE, -1n, 10n ** 37n];
    const b: LandedBatch = {
      rowCount: values.length,
      columns: [values.map((_, i) => i), values.map(() => 'EUR'), values.map(() => 'x'), values, values],
    };
    const stats = new WindowStats(COLUMNS, 0, undefined, [1, 2]);
    stats.add(b);
    const total = 2n * SAFE + 10n ** 37n;
    expect(stats.part().moneySums).toEqual([total, total]);
    expect(stats.part().moneyGroups[0]!.sums).toEqual([total, total]);
  });
});
