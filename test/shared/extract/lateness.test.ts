import { describe, expect, it } from 'vitest';
import {
  decodeDigest,
  digestKey,
  emptyLateness,
  encodeDigest,
  LATENESS_BUCKETS_SECONDS,
  LatenessTracker,
  latenessBucket,
  latenessQuantile,
  mergeLateness,
  versionHash,
} from '#shared/extract/lateness';
import { holdRangeEnd } from '#shared/sources/open-transactions';

const KEY = digestKey(Buffer.alloc(32, 7));
const us = (ms: number) => BigInt(ms) * 1000n;
const W = Date.UTC(2026, 0, 1, 12);
const MIN = 60_000;

describe('lookback digest', () => {
  it('hashes are keyed: another key gives other hashes for the same version', () => {
    const other = digestKey(Buffer.alloc(32, 8));
    expect(versionHash(KEY, 'p-1', us(W))).not.toBe(versionHash(other, 'p-1', us(W)));
    expect(versionHash(KEY, 'p-1', us(W))).toBe(versionHash(KEY, 'p-1', us(W)));
    expect(versionHash(KEY, 'p-1', us(W))).not.toBe(versionHash(KEY, 'p-1', us(W) + 1n));
  });

  it('round-trips through its binary form, and refuses anything else', () => {
    const digest = {
      fromMicros: us(W - 60 * MIN),
      toMicros: us(W),
      hashes: BigUint64Array.from([3n, 1n, 2n ** 63n + 5n]),
    };
    const back = decodeDigest(encodeDigest(digest));
    expect(back.fromMicros).toBe(digest.fromMicros);
    expect(back.toMicros).toBe(digest.toMicros);
    expect([...back.hashes]).toEqual([1n, 3n, 2n ** 63n + 5n]);
    expect(() => decodeDigest(new Uint8Array([1, 2, 3]))).toThrow('not a lookback digest');
    expect(() => decodeDigest(encodeDigest(digest).slice(0, 30))).toThrow('truncated');
  });
});

describe('LatenessTracker', () => {
  const region = { fromMicros: us(W - 60 * MIN), toMicros: us(W) };

  function previousRead(versions: [string, number][]) {
    const t = new LatenessTracker({ key: KEY, record: region });
    for (const [k, ms] of versions) t.observe(k, us(ms));
    return t.digest()!;
  }

  it('counts versions of the previous region missing from its digest, late by watermark − cursor', () => {
    const previous = previousRead([
      ['a', W - 50 * MIN],
      ['b', W - 10 * MIN],
      ['old', W - 90 * MIN], // outside the region: not recorded
    ]);
    expect(previous.hashes.length).toBe(2);
    const next = new LatenessTracker({ key: KEY, previous });
    next.observe('a', us(W - 50 * MIN)); // already read
    next.observe('b', us(W - 10 * MIN)); // already read
    next.observe('c', us(W - 20 * MIN)); // late by 20 minutes
    next.observe('a', us(W - 5 * MIN)); // a new version of a, committed late: 5 minutes
    next.observe('d', us(W + 5 * MIN)); // after the watermark: not late
    next.observe('e', us(W - 61 * MIN)); // before the digest's region: not judged
    const stats = next.stats();
    expect(next.measured).toBe(true);
    expect(stats.rows).toBe(2);
    expect(stats.maxMicros).toBe(20 * 60 * 1e6);
    expect(stats.histogram[latenessBucket(1200)]).toBe(1);
    expect(stats.histogram[latenessBucket(300)]).toBe(1);
  });

  it('is not measured without a previous digest, and counts nothing', () => {
    const t = new LatenessTracker({ key: KEY });
    t.observe('a', us(W - MIN));
    expect(t.measured).toBe(false);
    expect(t.stats().rows).toBe(0);
    expect(t.digest()).toBeUndefined();
  });

  it('records only its region, including late versions it found (so they are never counted twice)', () => {
    const previous = previousRead([]);
    const W2 = W + 30 * MIN;
    const t = new LatenessTracker({
      key: KEY,
      previous,
      record: { fromMicros: us(W2 - 60 * MIN), toMicros: us(W2) },
    });
    t.observe('late', us(W - 15 * MIN));
    t.observe('new', us(W + 10 * MIN));
    expect(t.stats().rows).toBe(1);
    const third = new LatenessTracker({ key: KEY, previous: t.digest()! });
    third.observe('late', us(W - 15 * MIN));
    third.observe('new', us(W + 10 * MIN));
    expect(third.stats().rows).toBe(0);
  });
});

describe('lateness histogram', () => {
  it('buckets by upper bound, with an overflow bucket', () => {
    expect(latenessBucket(0.2)).toBe(0);
    expect(latenessBucket(1)).toBe(0);
    expect(latenessBucket(1.5)).toBe(1);
    expect(latenessBucket(1e9)).toBe(LATENESS_BUCKETS_SECONDS.length);
  });

  it('merges and reads quantiles as bucket bounds', () => {
    const a = { ...emptyLateness(), rows: 3, maxMicros: 500e6 };
    const h = [...a.histogram];
    h[latenessBucket(10)] = 2;
    h[latenessBucket(500)] = 1;
    const merged = mergeLateness({ ...a, histogram: h }, { rows: 1, maxMicros: 2e6, histogram: h.map(() => 0) });
    expect(merged.rows).toBe(4);
    expect(merged.maxMicros).toBe(500e6);
    expect(latenessQuantile(merged.histogram, 0.5)).toBe(15);
    expect(latenessQuantile(merged.histogram, 0.99)).toBe(600);
    expect(latenessQuantile(emptyLateness().histogram, 0.5)).toBeUndefined();
  });
});

describe('holdRangeEnd', () => {
  const proposed = new Date(W);
  const watermark = new Date(W - 30 * MIN);
  it('holds the end behind the oldest open writer minus the margin, never before the watermark', () => {
    const open = { visibility: 'all' as const, oldestWriterStart: new Date(W - 10 * MIN) };
    expect(holdRangeEnd(proposed, watermark, open, 60_000)).toEqual({
      to: new Date(W - 11 * MIN),
      heldBackMs: 11 * MIN,
    });
    const ancient = { visibility: 'all' as const, oldestWriterStart: new Date(W - 300 * MIN) };
    expect(holdRangeEnd(proposed, watermark, ancient, 60_000)).toEqual({ to: watermark, heldBackMs: 30 * MIN });
  });
  it('leaves the end alone without an open writer, or when the writer started after it', () => {
    expect(holdRangeEnd(proposed, watermark, { visibility: 'own' }, 60_000)).toEqual({ to: proposed, heldBackMs: 0 });
    const later = { visibility: 'all' as const, oldestWriterStart: new Date(W + 5 * MIN) };
    expect(holdRangeEnd(proposed, watermark, later, 60_000)).toEqual({ to: proposed, heldBackMs: 0 });
  });
});
