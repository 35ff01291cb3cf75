import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import type { WindowProgress } from '#shared/contracts/steps';
import type { LandedColumn } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { DEFAULT_STRAY_GRACE_HOURS, sweepStream } from '#shared/landing/sweep';
import { commitWindow, newAttemptId, readCommittedWindow } from '#shared/landing/window';
import { committedListKey } from '#shared/layout';
import { S3Sink } from '#shared/sink/s3';
import type { LandedBatch } from '#shared/types';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { gameRoundColumns, syntheticBatch } from '../parquet/fixtures.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const FROM = new Date('2024-05-01T00:00:00.000Z');
const TO = new Date('2024-05-04T00:00:00.000Z');
const STREAM: StreamName = 'game_rounds';

let s3: S3rverHandle;
let workDir: string;
let columns: readonly LandedColumn[];

beforeAll(async () => {
  [s3, workDir] = await Promise.all([startS3rver(), mkdtemp(join(tmpdir(), 'sweep-'))]);
  columns = gameRoundColumns();
});

afterAll(async () => {
  await s3?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function input(total: number): LandedBatch[] {
  return [syntheticBatch(columns, 0, total, (i) => FROM.getTime() + Math.floor((i * 3 * DAY) / total))];
}

async function attempt(sink: S3Sink, windowId: string, rows: number, stream = STREAM): Promise<WindowProgress> {
  const writer = new PartitionedPartWriter({
    sink,
    stream,
    columns,
    runId: 'run-1',
    windowId,
    attempt: newAttemptId(),
    rowGroupRows: 100,
    partBytes: 8_000,
  });
  for (const batch of input(rows)) await writer.write(batch);
  return writer.close();
}

function commit(sink: S3Sink, windowId: string, progress: WindowProgress, stream = STREAM) {
  return commitWindow(sink, {
    operatorId: 'acme-casino',
    stream,
    runId: 'run-1',
    windowId,
    from: FROM,
    to: TO,
    columns,
    progress,
  });
}

describe('sweepStream', () => {
  it('removes attempts that never committed once past the grace period, and nothing committed', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });

    // w-a: committed, then a later attempt failed after writing parts (and its manifest).
    const committedA = await attempt(sink, 'w-a', 600);
    await commit(sink, 'w-a', committedA);
    const failedA = await attempt(sink, 'w-a', 600);
    await sink.putObject(`_manifests/${STREAM}/run-1/w-a/${failedA.attempt}.json`, '{}', 'application/json');
    // w-b: two failed attempts, never committed.
    const failedB1 = await attempt(sink, 'w-b', 300);
    const failedB2 = await attempt(sink, 'w-b', 300);
    // w-c: committed, single attempt.
    const committedC = await attempt(sink, 'w-c', 200);
    await commit(sink, 'w-c', committedC);
    // Another stream's failed attempt is not this sweep's business.
    const otherStream = await attempt(sink, 'w-a', 100, 'payments');
    const before = await s3.listKeys(bucket);
    const visibleBefore = await Promise.all(['w-a', 'w-c'].map((w) => readCommittedWindow(sink, STREAM, 'run-1', w)));

    // Within the grace period nothing is removed: these attempts may still be running.
    const early = await sweepStream(sink, STREAM);
    expect(early).toMatchObject({ windows: 3, strayAttempts: 0, deletedObjects: 0, pendingAttempts: 3 });
    expect(await s3.listKeys(bucket)).toEqual(before);

    const later = new Date(Date.now() + (DEFAULT_STRAY_GRACE_HOURS + 1) * HOUR);
    const dry = await sweepStream(sink, STREAM, { now: later, dryRun: true });
    expect(dry.strayAttempts).toBe(3);
    expect(await s3.listKeys(bucket)).toEqual(before);

    const swept = await sweepStream(sink, STREAM, { now: later });
    const strays = [failedA, failedB1, failedB2].flatMap((p) => p.parts.map((x) => x.key));
    strays.push(`_manifests/${STREAM}/run-1/w-a/${failedA.attempt}.json`);
    expect(swept).toMatchObject({ windows: 3, strayAttempts: 3, pendingAttempts: 0, deletedObjects: strays.length });
    expect(swept.deletedKeys).toEqual(strays.sort());
    expect(swept.deletedBytes).toBe([failedA, failedB1, failedB2].reduce((n, p) => n + p.bytes, 0) + 2);
    const after = await s3.listKeys(bucket);
    expect(after).toEqual(before.filter((k) => !strays.includes(k)));
    for (const key of otherStream.parts.map((p) => p.key)) expect(after).toContain(key);
    // What readers see is unchanged.
    expect(await Promise.all(['w-a', 'w-c'].map((w) => readCommittedWindow(sink, STREAM, 'run-1', w)))).toEqual(
      visibleBefore,
    );
    for (const p of [...committedA.parts, ...committedC.parts]) expect(after).toContain(p.key);
    expect(after).toContain(committedListKey(STREAM, 'run-1', 'w-a'));

    // A second sweep finds nothing more.
    expect(await sweepStream(sink, STREAM, { now: later })).toMatchObject({ strayAttempts: 0, deletedObjects: 0 });
  });
});
