/**
 * The key audit's comparison logic: digests, bucket summaries, refinement of differing buckets
 * down to the keys, and its limits, on in-memory sides.
 */
import { createHash } from 'node:crypto';
import { TrinoSQL } from 'dt-sql-parser';
import { describe, expect, it } from 'vitest';
import {
  addToSummaries,
  type BucketSummary,
  bucketDepths,
  compareKeys,
  inBuckets,
  KeyAuditLimitError,
  type KeySide,
  keyDigest,
  startDepth,
} from '#shared/audit/compare';
import { lakeKeysStatement, lakeRowsStatement, lakeSummariesStatement } from '#shared/audit/lake-side';
import { bucketPredicate } from '#shared/audit/source-side';

/** A side holding a key set, counting the keys it is asked to list. */
class MemorySide implements KeySide {
  listed = 0;
  depths: number[] = [];
  constructor(private readonly keySet: readonly string[]) {}
  async summaries(depth: number, within?: readonly string[]) {
    this.depths.push(depth);
    const out = new Map<string, BucketSummary>();
    const wanted = within ? new Set(within) : undefined;
    for (const k of this.keySet) addToSummaries(out, keyDigest(k), depth, wanted);
    return out;
  }
  async keys(buckets: readonly string[]) {
    const set = new Set(buckets);
    const depths = bucketDepths(set);
    const out = new Map<string, string>();
    for (const k of this.keySet) if (inBuckets(keyDigest(k).hex, set, depths)) out.set(k, k);
    this.listed += out.size;
    return out;
  }
}

const keys = (n: number, from = 1) => Array.from({ length: n }, (_, i) => String(i + from));

describe('key digest', () => {
  it('is the hex MD5 of the UTF-8 text and two 32-bit slices of it', () => {
    const d = keyDigest('42');
    expect(d.hex).toBe(createHash('md5').update('42').digest('hex'));
    expect(d.hex).toBe('a1d0c6e83f027327d8461063f4ac58a6');
    expect(d.a).toBe(BigInt('0x3f027327'));
    expect(d.b).toBe(BigInt('0xd8461063'));
    // The values PostgreSQL and MariaDB compute for the same slices (checked by hand on both engines).
    expect(d.a).toBe(1057125159n);
  });

  it('sums are order independent', () => {
    const x = new Map<string, BucketSummary>();
    const y = new Map<string, BucketSummary>();
    for (const k of ['a', 'b', 'c']) addToSummaries(x, keyDigest(k), 1);
    for (const k of ['c', 'a', 'b']) addToSummaries(y, keyDigest(k), 1);
    expect(x).toEqual(y);
  });
});

describe('compareKeys', () => {
  const options = { startDepth: 1, leafRows: 20, maxKeys: 10_000 };

  it('finds nothing, and lists nothing, when both sides hold the same keys', async () => {
    const s = new MemorySide(keys(5000));
    const l = new MemorySide(keys(5000).reverse());
    const r = await compareKeys(s, l, options);
    expect(r).toMatchObject({ sourceRows: 5000n, lakeRows: 5000n, passes: 1, bucketsListed: 0, keysListed: 0 });
    expect(r.missing.size).toBe(0);
    expect(r.extra).toEqual([]);
  });

  it('refines only the differing buckets, down to the keys', async () => {
    const source = keys(5000).filter((k) => k !== '777' && k !== '4242');
    const lake = keys(5000).filter((k) => k !== '1234');
    const s = new MemorySide(source);
    const l = new MemorySide(lake);
    const r = await compareKeys(s, l, options);
    expect([...r.missing.keys()]).toEqual(['1234']);
    expect(r.extra).toEqual(['4242', '777']);
    // 5,000 keys in 16 buckets of ~312: two more digits (about 1.2 keys per bucket) before listing.
    expect(s.depths).toEqual([1, 2, 3]);
    expect(r.passes).toBe(3);
    // Only the keys of three small buckets are listed, not the 5,000.
    expect(r.keysListed).toBeLessThan(3 * 2 * 20);
    expect(r.bucketsListed).toBe(3);
  });

  it('lists a bucket at the deepest level even when it is large', async () => {
    const r = await compareKeys(new MemorySide(keys(300)), new MemorySide(keys(299)), {
      startDepth: 1,
      leafRows: 1,
      maxDepth: 1,
      maxKeys: 10_000,
    });
    expect([...r.missing.keys()]).toEqual(['300']);
    expect(r.passes).toBe(1);
  });

  it('finds every key of an empty side, and refuses beyond maxKeys', async () => {
    const r = await compareKeys(new MemorySide(keys(50)), new MemorySide([]), options);
    expect(r.missing.size).toBe(50);
    await expect(
      compareKeys(new MemorySide(keys(5000)), new MemorySide([]), { ...options, maxKeys: 1000 }, 'op/payments'),
    ).rejects.toThrow(KeyAuditLimitError);
    await expect(
      compareKeys(new MemorySide(keys(5000)), new MemorySide([]), { ...options, maxKeys: 1000 }, 'op/payments'),
    ).rejects.toThrow(/op\/payments: .* replay the stream/);
  });
});

describe('startDepth', () => {
  it('sizes the first buckets from the row estimate, between 1 and 3 digits', () => {
    expect(startDepth(null, 2000)).toBe(1);
    expect(startDepth(0, 2000)).toBe(1);
    expect(startDepth(30_000, 2000)).toBe(1);
    expect(startDepth(40_000, 2000)).toBe(2);
    expect(startDepth(600_000, 2000)).toBe(3);
    expect(startDepth(10_000_000_000, 2000)).toBe(3);
  });
});

describe('SQL', () => {
  const trino = new TrinoSQL();
  it('bucket predicates group prefixes by depth and refuse anything but hex', () => {
    expect(bucketPredicate('h', ['a', 'b3', 'c'])).toBe(`(substr(h, 1, 1) IN ('a', 'c') OR substr(h, 1, 2) IN ('b3'))`);
    expect(() => bucketPredicate('h', ["a' OR 1=1 --"])).toThrow(/not a bucket prefix/);
  });

  it('the lake statements are Trino SQL', () => {
    for (const sql of [
      lakeSummariesStatement('db', 'payments', 1),
      lakeSummariesStatement('db', 'payments', 3, ['ab', 'cd']),
      lakeKeysStatement('db', 'players', ['a', 'b3']),
      lakeRowsStatement('db', 'payments', ['payment_id', 'amount'], ['1', "x'y"]),
    ]) {
      expect(trino.validate(sql), sql).toEqual([]);
    }
  });
});
