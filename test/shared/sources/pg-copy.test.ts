import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CopyTextDecoder,
  copyOutBatches,
  copyOutText,
  copyTextBatch,
  parseCopyText,
  parseCopyTextLine,
} from '../../../lambdas/shared/sources/pg-copy.ts';
import { engineAvailable, PG_URL } from '../../helpers/databases.ts';

const available = await engineAvailable('postgres');

async function drain(client: pg.Client, sql: string, batchRows = 7): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  for await (const batch of copyOutBatches(client, sql, batchRows)) {
    expect(batch.length).toBeLessThanOrEqual(batchRows);
    rows.push(...batch);
  }
  return rows;
}

/** Re-delivers the socket's data in pieces of 1..maxPiece bytes, to cut frames and characters anywhere. */
function chop(client: pg.Client, maxPiece: number): void {
  const stream = (client as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream;
  const emit = stream.emit.bind(stream);
  let n = 0;
  stream.emit = (event: string | symbol, ...args: unknown[]) => {
    if (event !== 'data') return emit(event, ...args);
    const chunk = args[0] as Buffer;
    for (let pos = 0; pos < chunk.length; ) {
      const size = 1 + (n++ % maxPiece);
      emit('data', chunk.subarray(pos, pos + size));
      pos += size;
    }
    return true;
  };
}

describe('parseCopyTextLine', () => {
  it('splits on tabs, maps \\N to NULL and decodes every escape of the text format', () => {
    expect(parseCopyTextLine('a\t\\N\t\\\\N\tb\\tc\\nd\\\\e\t\\101\\x42\\r\\b\\f\\v\t')).toEqual([
      'a',
      null,
      '\\N',
      'b\tc\nd\\e',
      'AB\r\b\f\v',
      '',
    ]);
    expect(parseCopyTextLine('plain')).toEqual(['plain']);
  });
});

describe('parseCopyText', () => {
  it('makes of every line the row parseCopyTextLine makes of it, on generated COPY text', () => {
    let seed = 3;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 8) % n;
    };
    const pieces = [
      'a',
      'R0000000042',
      '12.34',
      '\\N',
      '\\',
      '\\\\',
      '\\t',
      '\\n',
      '\\101',
      '\\x4',
      '\\x4g',
      '\\q',
      'é',
      '🎰',
      '',
      ' ',
    ];
    for (const columns of [1, 2, 12]) {
      for (const lines of [1, 2, 500]) {
        const text: string[] = [];
        for (let l = 0; l < lines; l++) {
          const fields: string[] = [];
          for (let c = 0; c < columns; c++) {
            let field = '';
            for (let k = next(4); k > 0; k--) field += pieces[next(pieces.length)];
            fields.push(field);
          }
          text.push(`${fields.join('\t')}\n`);
        }
        const joined = text.join('');
        const expected = joined.slice(0, -1).split('\n').map(parseCopyTextLine);
        expect(parseCopyText(Buffer.from(joined))).toEqual(expected);
        // A Uint8Array that is not a Buffer, as it arrives in a worker.
        expect(parseCopyText(new Uint8Array(Buffer.from(joined)))).toEqual(expected);
      }
    }
    expect(parseCopyText(Buffer.from('\n'))).toEqual([['']]);
    expect(parseCopyText(Buffer.from('a\tb\n\n\\N\n'))).toEqual([['a', 'b'], [''], [null]]);
    expect(parseCopyText(Buffer.alloc(0))).toEqual([]);
  });
});

describe('CopyTextDecoder', () => {
  it('joins rows and UTF-8 characters split across chunks', () => {
    const bytes = Buffer.from('é🎰\tx\n\\N\tÿ\n');
    const rows: (string | null)[][] = [];
    const decoder = new CopyTextDecoder();
    for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1), (r) => rows.push(r));
    expect(rows).toEqual([
      ['é🎰', 'x'],
      [null, 'ÿ'],
    ]);
    expect(decoder.pending).toBe(false);
  });

  it('in text mode, emits batches of whole lines, undecoded, whatever the chunking', () => {
    const bytes = Buffer.from('é🎰\tx\n\\N\tÿ\nthird\tline\nfourth\n');
    const texts: [string, number][] = [];
    const decoder = new CopyTextDecoder();
    for (let i = 0; i < bytes.length; i++) {
      decoder.append(bytes.subarray(i, i + 1));
      decoder.flushText(3, (text, rows) => texts.push([text.toString('utf8'), rows]));
    }
    decoder.finishText((text, rows) => texts.push([text.toString('utf8'), rows]));
    expect(texts).toEqual([
      ['é🎰\tx\n\\N\tÿ\nthird\tline\n', 3],
      ['fourth\n', 1],
    ]);
    expect(decoder.pending).toBe(false);
    expect(parseCopyText(Buffer.from(texts[0]![0]))).toEqual([
      ['é🎰', 'x'],
      [null, 'ÿ'],
      ['third', 'line'],
    ]);
    const batch = copyTextBatch([], { text: Buffer.from(texts[0]![0]), rows: 3 });
    expect(batch.copyText?.lastRow).toEqual(['third', 'line']);
    expect(batch.copyText?.rowCount).toBe(3);
    expect(batch.rows).toHaveLength(3);
  });
});

describe.skipIf(!available)('copyOutBatches on a real PostgreSQL', () => {
  let client: pg.Client;
  const sql = `COPY (SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('ħ🎰	x\\', g % 40) END, g::numeric / 7
                       FROM generate_series(1, 3000) g ORDER BY g) TO STDOUT`;
  const expected = Array.from({ length: 3000 }, (_, i) => {
    const g = i + 1;
    return [String(g), g % 3 === 0 ? null : 'ħ🎰\tx\\'.repeat(g % 40)];
  });

  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`
      CREATE OR REPLACE FUNCTION pg_temp.noisy(i int) RETURNS int AS $$
      BEGIN IF i = 1500 THEN RAISE NOTICE 'halfway'; END IF; RETURN i; END $$ LANGUAGE plpgsql`);
  });

  afterAll(async () => {
    await client?.end();
  });

  it('decodes every row whatever the TCP chunking, and leaves the session usable', async () => {
    const whole = await drain(client, sql);
    expect(whole.map((r) => r.slice(0, 2))).toEqual(expected);
    expect(whole[6]![2]).toBe('1.00000000000000000000');
    chop(client, 9); // frames, headers and characters cut at every possible position
    const chopped = await drain(client, sql, 500);
    expect(chopped).toEqual(whole);
    expect((await client.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
  });

  it('yields the same rows as undecoded COPY text of batchRows lines (copyOutText), whatever the chunking', async () => {
    const whole = await drain(client, sql);
    chop(client, 7);
    const rows: (string | null)[][] = [];
    const counts: number[] = [];
    for await (const { text, rows: n } of copyOutText(client, sql, 700)) {
      rows.push(...parseCopyText(text));
      counts.push(n);
    }
    expect(rows).toEqual(whole);
    expect(counts).toEqual([700, 700, 700, 700, 200]);
    // A notice in mid-stream hands the socket back to pg; its CopyData still arrives as text.
    const noisy = [];
    for await (const { text } of copyOutText(
      client,
      `COPY (SELECT pg_temp.noisy(g) FROM generate_series(1, 3000) g) TO STDOUT`,
      1000,
    )) {
      noisy.push(...parseCopyText(text));
    }
    expect(noisy.map((r) => Number(r[0]))).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect((await client.query('SELECT 43 AS n')).rows).toEqual([{ n: 43 }]);
  });

  it('hands the socket back to pg at a notice in mid-stream and still returns every row', async () => {
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    const rows = await drain(client, `COPY (SELECT pg_temp.noisy(g) FROM generate_series(1, 3000) g) TO STDOUT`, 1000);
    expect(rows.map((r) => Number(r[0]))).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(notices).toEqual(['halfway']);
  });

  it('reports an error raised in mid-stream after the rows before it', async () => {
    const rows: (string | null)[][] = [];
    const error = await (async () => {
      for await (const batch of copyOutBatches(
        client,
        `COPY (SELECT 1 / (2000 - g) FROM generate_series(1, 3000) g) TO STDOUT`,
        100,
      )) {
        rows.push(...batch);
      }
    })().catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('22012');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(2000);
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('drains and discards the rest when the consumer stops early', async () => {
    for await (const batch of copyOutBatches(client, sql, 10)) {
      expect(batch).toHaveLength(10);
      break;
    }
    expect((await client.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
  });
});
