/**
 * The S3 sink's small-object writes against a real S3 engine (s3rver): an empty object (the commit
 * list of a window without rows) is written with its length, so the SDK does not take its body
 * for a stream of unknown length and warn on the function's log for every such window.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Sink } from '#shared/sink/s3';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';

let s3: S3rverHandle;
let sink: S3Sink;

beforeAll(async () => {
  s3 = await startS3rver();
  sink = new S3Sink({ client: s3.client, bucket: await s3.createBucket() });
}, 60_000);

afterAll(async () => {
  await s3?.stop();
});

describe('S3Sink.putObject', () => {
  it.each([
    ['an empty string', '', ''],
    ['a string', 'raw/p/dt=2026-03-01/a.parquet\n', 'raw/p/dt=2026-03-01/a.parquet\n'],
    ['a multi-byte string', 'Zoë', 'Zoë'],
    ['empty bytes', new Uint8Array(), ''],
  ])('writes %s whole, without a warning', async (_, body, text) => {
    const warn = vi.spyOn(console, 'warn');
    try {
      await sink.putObject('objects/one', body, 'text/plain', { kind: 'test' });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    const read = await sink.getObjectWithMetadata('objects/one');
    expect(new TextDecoder().decode(read?.body)).toBe(text);
    expect(read?.metadata).toEqual({ kind: 'test' });
  });
});
