import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkInboundObject, FileRejectedError, readInboundFile } from '#shared/files/index';
import { bodyOf, filesConfig, gzip, PLAYERS_HEADER, playersStream, readFile, reasonOf } from './fixtures.ts';

const config = filesConfig({ players: playersStream() }, { maxFileSizeMb: 1 });
const CSV = `${PLAYERS_HEADER}\np1,2024-01-05 10:00:00,2024-01-05 11:00:00,MT,3,a@example.com,Active\n`;
const MIB = 1024 * 1024;

/** A body that fails the test if anything reads it. */
function untouchable(): Readable {
  return new Readable({
    read() {
      this.destroy(new Error('the body must not be read'));
    },
  });
}

/** Gzips `head` then `totalBytes` of `fill` produced in 1 MiB chunks (never held in memory at once). */
async function gzipped(totalBytes: number, fill: Buffer, head = ''): Promise<Buffer> {
  const chunk = Buffer.alloc(MIB, fill);
  const source = Readable.from(
    (function* () {
      yield Buffer.from(head);
      for (let sent = 0; sent < totalBytes; sent += MIB) yield chunk;
    })(),
  );
  const out: Buffer[] = [];
  for await (const chunk of source.pipe(createGzip({ level: 1 }))) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

describe('object checks before reading', () => {
  it('refuses a zero-byte object without reading it', () => {
    let error: unknown;
    try {
      readInboundFile({ config, key: 'inbound/players/x.csv', size: 0, body: untouchable() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FileRejectedError);
    expect((error as FileRejectedError).name).toBe('FileRejectedError');
    expect((error as FileRejectedError).reason).toMatchObject({ code: 'EMPTY_FILE', size: 0, stream: 'players' });
  });

  it('refuses an object larger than fileDrop.maxFileSizeMb from its size', () => {
    expect(() => checkInboundObject({ config, key: 'inbound/players/x.csv', size: MIB + 1 })).toThrow(
      /FILE_TOO_LARGE: the file is 1 MiB, larger than the maximum of 1 MiB \(fileDrop.maxFileSizeMb\)/,
    );
    expect(checkInboundObject({ config, key: 'inbound/players/x.csv', size: MIB })).toEqual({
      stream: 'players',
      name: 'x.csv',
      maxBytes: MIB,
    });
  });

  it('refuses a key problem with the key code', () => {
    expect(() => checkInboundObject({ config, key: 'inbound/players/../x.csv', size: 10 })).toThrow(/INVALID_KEY/);
    expect(() => checkInboundObject({ config, key: 'inbound/palyers/x.csv', size: 10 })).toThrow(
      /UNKNOWN_STREAM: "palyers" is not a stream; did you mean "players"\?/,
    );
  });
});

describe('streaming input', () => {
  it('refuses an object that turns out larger than the maximum while streaming', async () => {
    const big = `${CSV}${'p2,2024-01-05 10:00:00,2024-01-05 11:00:00,MT,3,a@example.com,Active\n'.repeat(20_000)}`;
    const outcome = await readFile({ config, key: 'inbound/players/x.csv', body: big });
    const reason = reasonOf(outcome);
    expect(reason.code).toBe('FILE_TOO_LARGE');
    expect(reason.size).toBeNull();
  });

  it('reads an empty body (size unknown) as EMPTY_FILE', async () => {
    expect(reasonOf(await readFile({ config, key: 'inbound/players/x.csv', body: '' })).code).toBe('EMPTY_FILE');
  });

  it('detects gzip by content: a gzipped .csv is decompressed and a plain .gz is read as is', async () => {
    const zipped = await readFile({ config, key: 'inbound/players/players.csv', body: gzip(CSV) });
    expect(zipped.validation.ok).toBe(true);
    expect(zipped.rows).toHaveLength(1);
    expect(zipped.validation.result?.gzip).toBe(true);
    const plain = await readFile({ config, key: 'inbound/players/players.csv.gz', body: CSV });
    expect(plain.validation.ok).toBe(true);
    expect(plain.rows).toEqual(zipped.rows);
    expect(plain.validation.result?.gzip).toBe(false);
  });

  it('reads concatenated gzip members as one file', async () => {
    const [head, tail] = [CSV.slice(0, 30), CSV.slice(30)];
    const outcome = await readFile({
      config,
      key: 'inbound/players/x.csv.gz',
      body: Buffer.concat([gzip(head), gzip(tail)]),
    });
    expect(outcome.rows).toHaveLength(1);
  });

  it('refuses a truncated gzip with CORRUPT_GZIP', async () => {
    const zipped = gzip(CSV.repeat(50));
    const outcome = await readFile({
      config,
      key: 'inbound/players/x.csv.gz',
      body: zipped.subarray(0, zipped.length - 20),
    });
    const reason = reasonOf(outcome);
    expect(reason.code).toBe('CORRUPT_GZIP');
    expect(reason.message).toContain('truncated or damaged');
  });

  it('refuses a gzip with a damaged checksum', async () => {
    const zipped = Buffer.from(gzip(CSV));
    zipped[zipped.length - 6]! ^= 0xff; // CRC32 in the trailer
    expect(reasonOf(await readFile({ config, key: 'inbound/players/x.gz', body: zipped })).code).toBe('CORRUPT_GZIP');
  });

  it('refuses a gzip bomb (200 MiB of zeros) quickly, by ratio, even where it is spooled (Parquet)', async () => {
    const bomb = await gzipped(200 * MIB, Buffer.from([0]));
    expect(bomb.length).toBeLessThan(2 * MIB);
    const big = filesConfig({ players: playersStream({ type: 'parquet' }) }, { maxFileSizeMb: 5120 });
    const started = performance.now();
    const reason = reasonOf(await readFile({ config: big, key: 'inbound/players/x.parquet', body: bomb }));
    expect(reason.code).toBe('DECOMPRESSION_LIMIT');
    expect(reason.message).toContain('more than 100:1');
    expect(performance.now() - started).toBeLessThan(3000);
    // As text, zeros are NUL characters: refused even sooner.
    const csv = filesConfig({ players: playersStream() }, { maxFileSizeMb: 5120 });
    const text = reasonOf(await readFile({ config: csv, key: 'inbound/players/x.csv', body: bomb }));
    expect(text).toMatchObject({ code: 'INVALID_ENCODING', errors: [{ line: 1 }] });
  });

  it('refuses a gzip bomb of valid CSV rows by ratio', async () => {
    const row = 'p1,2024-01-05 10:00:00,2024-01-05 11:00:00,MT,3,a@example.com,Active\n';
    const bomb = await gzipped(64 * MIB, Buffer.from(row), `${PLAYERS_HEADER}\n`);
    const big = filesConfig({ players: playersStream() }, { maxFileSizeMb: 5120 });
    const outcome = await readFile({
      config: big,
      key: 'inbound/players/x.csv',
      body: bomb,
      limits: { ratioGraceBytes: 2 * MIB },
    });
    const reason = reasonOf(outcome);
    expect(reason.code).toBe('DECOMPRESSION_LIMIT');
    expect(outcome.validation.result).toBeUndefined();
  });

  it('refuses gzip content larger than the decompressed maximum', async () => {
    const text = Buffer.from(CSV.repeat(2000));
    const outcome = await readFile({
      config,
      key: 'inbound/players/x.csv',
      body: gzip(text),
      limits: { maxDecompressedBytes: 64 * 1024, maxRatio: 1e9 },
    });
    expect(reasonOf(outcome)).toMatchObject({ code: 'DECOMPRESSION_LIMIT' });
  });

  it('refuses a gzip that holds nothing', async () => {
    expect(reasonOf(await readFile({ config, key: 'inbound/players/x.gz', body: gzip('') })).code).toBe('EMPTY_FILE');
  });

  it('refuses zip, bzip2 and zstd archives with UNSUPPORTED_COMPRESSION', async () => {
    const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(40)]);
    const bzip2 = Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(40)]);
    const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(40)]);
    for (const [body, what] of [
      [zip, 'zip'],
      [bzip2, 'bzip2'],
      [zstd, 'zstd'],
    ] as const) {
      const reason = reasonOf(await readFile({ config, key: 'inbound/players/x.csv', body }));
      expect(reason.code).toBe('UNSUPPORTED_COMPRESSION');
      expect(reason.message).toContain(`a ${what} archive`);
    }
  });

  it('passes infrastructure errors of the body through unchanged (no quarantine)', async () => {
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from(CSV);
        throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      })(),
    );
    await expect(readFile({ config, key: 'inbound/players/x.csv', body: failing })).rejects.toThrow('ECONNRESET');
  });

  it('reads chunks of any size the same way', async () => {
    const oneByte = await readFile({ config, key: 'inbound/players/x.csv', body: bodyOf(gzip(CSV), 1) });
    expect(oneByte.rows).toHaveLength(1);
  });
});
