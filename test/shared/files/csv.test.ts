import { Readable } from 'node:stream';
import { tableFromArrays } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { REDACTED_VALUE } from '#shared/mapping/errors';
import { bodyOf, filesConfig, PLAYERS_HEADER, parquetOf, playersStream, readFile, reasonOf } from './fixtures.ts';

const config = filesConfig({ players: playersStream() });
const key = 'inbound/players/players.csv';
const ROW1 = 'p1,2024-01-05 10:00:00,2024-01-05 11:00:00,MT,3,a@example.com,Active';
const ROW2 = 'p2,,2024-01-06T09:30:00Z,DE,0,,Closed';
/** Columns of every batch: canonical order of the mapped fields. */
const COLUMNS = ['PlayerID', 'Registered', 'LastModified', 'Country', 'Status', 'Vip', 'Email'];

async function accepted(body: string | Uint8Array | Readable, cfg = config) {
  const outcome = await readFile({ config: cfg, key, body });
  if (!outcome.validation.ok) throw new Error(`rejected: ${JSON.stringify(outcome.validation.reason, null, 2)}`);
  return outcome;
}

async function rejected(body: string | Uint8Array | Readable, cfg = config) {
  return reasonOf(await readFile({ config: cfg, key, body }));
}

describe('CSV files', () => {
  it('accepts a well-formed file and passes values in the mapped columns order', async () => {
    const outcome = await accepted(`${PLAYERS_HEADER}\n${ROW1}\n${ROW2}\n`);
    expect(outcome.columns).toEqual(COLUMNS);
    expect(outcome.rows).toEqual([
      ['p1', '2024-01-05 10:00:00', '2024-01-05 11:00:00', 'MT', 'Active', '3', 'a@example.com'],
      ['p2', null, '2024-01-06T09:30:00Z', 'DE', 'Closed', '0', null],
    ]);
    expect(outcome.validation.result).toMatchObject({ ok: true, rowsRead: 2, rowsValid: 2, errorCount: 0 });
  });

  it('matches columns by name: a changed column order gives the same rows', async () => {
    const header = 'Status,Email,Vip,Country,LastModified,Registered,PlayerID';
    const line = (row: string) => row.split(',').reverse().join(',');
    const outcome = await accepted(`${header}\n${line(ROW1)}\n${line(ROW2)}\n`);
    const reference = await accepted(`${PLAYERS_HEADER}\n${ROW1}\n${ROW2}\n`);
    expect(outcome.rows).toEqual(reference.rows);
  });

  it('strips a UTF-8 BOM and reads CRLF line ends', async () => {
    const outcome = await accepted(`\uFEFF${PLAYERS_HEADER}\r\n${ROW1}\r\n${ROW2}\r\n`);
    expect(outcome.rows).toHaveLength(2);
    expect(outcome.rows[0]?.[0]).toBe('p1');
    expect(outcome.rows[1]?.[5]).toBe('0');
  });

  it('keeps quoted newlines, delimiters and doubled quotes, and reports physical lines after them', async () => {
    const body = [
      PLAYERS_HEADER,
      'p1,2024-01-05 10:00:00,2024-01-05 11:00:00,"Malta, ""the rock""\r\nand Gozo\nisland",3,,Active',
      'p2,2024-01-05 10:00:00,2024-01-05 11:00:00,MT,three,,Active',
    ].join('\r\n');
    const outcome = await readFile({ config, key, body });
    expect(outcome.rows).toEqual([
      [
        'p1',
        '2024-01-05 10:00:00',
        '2024-01-05 11:00:00',
        'Malta, "the rock"\r\nand Gozo\nisland',
        'Active',
        '3',
        null,
      ],
    ]);
    const reason = reasonOf(outcome);
    expect(reason.errors).toEqual([
      expect.objectContaining({ line: 5, row: 2, column: 'Vip', code: 'INVALID_VALUE', example: '"three"' }),
    ]);
  });

  it('refuses a file read with the wrong delimiter, saying which delimiter it looks like', async () => {
    const body = `${PLAYERS_HEADER.replaceAll(',', ';')}\n${ROW1.replaceAll(',', ';')}\n`;
    const reason = await rejected(body);
    expect(reason.code).toBe('MISSING_COLUMN');
    expect(reason.errors[0]).toMatchObject({ line: 1, column: 'PlayerID', code: 'MISSING_COLUMN' });
    expect(reason.errors[0]?.message).toContain('the file looks delimited by ";"');
    expect(reason.errors.filter((e) => e.code === 'MISSING_COLUMN')).toHaveLength(7);
    // Nothing matched, so the first row might be data: it is not quoted.
    expect(reason.errors.at(-1)).toMatchObject({ code: 'UNEXPECTED_COLUMN', column: null });
    expect(JSON.stringify(reason)).not.toContain('PlayerID;');
    // The same file is read once the delimiter is configured.
    const semicolon = filesConfig({ players: playersStream({ type: 'csv', delimiter: ';' }) });
    expect((await accepted(body, semicolon)).rows).toHaveLength(1);
  });

  it('refuses a file without its header row, without quoting the data row', async () => {
    const reason = await rejected(`${ROW1}\n${ROW2}\n`);
    expect(reason.code).toBe('MISSING_COLUMN');
    expect(reason.errors[0]?.message).toContain('is the header row missing?');
    expect(reason.errors.filter((e) => e.code === 'UNEXPECTED_COLUMN').map((e) => e.column)).toEqual(
      Array(7).fill(null),
    );
    expect(JSON.stringify(reason)).not.toContain('a@example.com');
    expect(reason.message).toContain('found 7 column(s), not shown');
  });

  it('refuses a file without a mapped column', async () => {
    const header = PLAYERS_HEADER.replace(',LastModified', '');
    const row = ROW1.replace(',2024-01-05 11:00:00', '');
    const reason = await rejected(`${header}\n${row}\n`);
    expect(reason).toMatchObject({ code: 'MISSING_COLUMN', errorCount: 1, truncated: false });
    expect(reason.errors).toEqual([
      expect.objectContaining({ line: 1, row: null, column: 'LastModified', code: 'MISSING_COLUMN' }),
    ]);
  });

  it('refuses an unmapped extra column', async () => {
    const reason = await rejected(`${PLAYERS_HEADER},Password\n${ROW1},hunter2\n`);
    expect(reason.code).toBe('UNEXPECTED_COLUMN');
    expect(reason.errors).toEqual([expect.objectContaining({ line: 1, column: 'Password', example: null })]);
    expect(JSON.stringify(reason)).not.toContain('hunter2');
  });

  it('refuses a duplicate header, and an empty one (trailing delimiter)', async () => {
    const duplicate = await rejected(`${PLAYERS_HEADER},Country\n${ROW1},MT\n`);
    expect(duplicate).toMatchObject({ code: 'DUPLICATE_COLUMN', errors: [{ column: 'Country', line: 1 }] });
    const trailing = await rejected(`${PLAYERS_HEADER},\n${ROW1},\n`);
    expect(trailing.code).toBe('UNEXPECTED_COLUMN');
    expect(trailing.errors[0]?.message).toContain('trailing delimiter');
  });

  it('matches header names case-insensitively and ignores spaces around them', async () => {
    const header = ' playerid ,REGISTERED,LastModified,Country,Vip,Email,Status';
    expect((await accepted(`${header}\n${ROW1}\n`)).rows).toHaveLength(1);
  });

  it('refuses invalid UTF-8 with the line of the first bad byte', async () => {
    const body = Buffer.concat([
      Buffer.from(`${PLAYERS_HEADER}\n${ROW1}\n${ROW2}\np3,,2024-01-06 10:00:00,`),
      Buffer.from([0xc3, 0x28]), // 0xC3 must be followed by a continuation byte
      Buffer.from(',0,,Active\n'),
    ]);
    const reason = await rejected(body);
    expect(reason).toMatchObject({ code: 'INVALID_ENCODING', errors: [{ line: 4, code: 'INVALID_ENCODING' }] });
    expect(reason.message).toContain('invalid byte 0xc3 on line 4');
  });

  it('reads multi-byte characters split across chunks', async () => {
    const text = `${PLAYERS_HEADER}\np1,,2024-01-05 11:00:00,Ελλάδα 日本 😀,3,,Active\n`;
    const outcome = await accepted(bodyOf(text, 1));
    expect(outcome.rows[0]?.[3]).toBe('Ελλάδα 日本 😀');
  });

  it('reads latin1 (windows-1252) when configured, and refuses it as UTF-8', async () => {
    const text = `${PLAYERS_HEADER}\np1,,2024-01-05 11:00:00,Österreich €,3,jürgen@example.com,Active\n`;
    const latin1Bytes = Buffer.from(new TextEncoder().encode(text).length > 0 ? encode1252(text) : []);
    const latin1 = filesConfig({ players: playersStream({ type: 'csv', encoding: 'latin1' }) });
    const outcome = await accepted(latin1Bytes, latin1);
    expect(outcome.rows[0]?.[3]).toBe('Österreich €');
    expect(outcome.rows[0]?.[6]).toBe('jürgen@example.com');
    const reason = await rejected(latin1Bytes);
    expect(reason).toMatchObject({ code: 'INVALID_ENCODING', errors: [{ line: 2 }] });
    expect(reason.message).toContain('set streams.players.format.encoding to latin1');
  });

  it('refuses UTF-16 text declared as UTF-8 (NUL characters), and reads it when declared', async () => {
    const text = `${PLAYERS_HEADER}\n${ROW1}\n`;
    const utf16 = Buffer.from(text, 'utf16le');
    const reason = await rejected(utf16);
    expect(reason).toMatchObject({ code: 'INVALID_ENCODING', errors: [{ line: 1 }] });
    expect(reason.message).toContain('NUL characters');
    const withBom = Buffer.concat([Buffer.from([0xff, 0xfe]), utf16]);
    expect((await rejected(withBom)).message).toContain('UTF-16 byte order mark');
    const declared = filesConfig({ players: playersStream({ type: 'csv', encoding: 'utf-16le' }) });
    expect((await accepted(withBom, declared)).rows[0]?.[0]).toBe('p1');
  });

  it('lists type errors with line, row, column and example, reading the whole file', async () => {
    const body = [
      PLAYERS_HEADER,
      ROW1,
      'p2,2024-13-01 10:00:00,2024-01-05 11:00:00,MT,3.5,,Active',
      ',2024-01-05 10:00:00,2024-01-05 11:00:00,MT,99999999999,,Active',
      ROW2,
    ].join('\n');
    const outcome = await readFile({ config, key, body });
    const reason = reasonOf(outcome);
    expect(reason).toMatchObject({ code: 'INVALID_VALUE', errorCount: 4, truncated: false });
    expect(reason.errors.map((e) => [e.line, e.row, e.column, e.example])).toEqual([
      [3, 2, 'Registered', '"2024-13-01 10:00:00"'],
      [3, 2, 'Vip', '"3.5"'],
      [4, 3, 'PlayerID', null],
      [4, 3, 'Vip', '"99999999999"'],
    ]);
    expect(reason.errors[0]?.message).toContain('is not a valid timestamp');
    expect(reason.errors[1]?.message).toContain('has a fractional part but the landed type is INT');
    expect(reason.errors[2]?.message).toContain('is empty but player_id is required');
    expect(reason.errors[3]?.message).toContain('out of range for INT');
    expect(outcome.validation.result).toMatchObject({ rowsRead: 4, rowsValid: 2 });
  });

  it('lists the first 20 problems and counts them all', async () => {
    const bad = Array.from({ length: 50 }, (_, i) => `p${i},,2024-01-05 11:00:00,MT,x,,Active`);
    const reason = await rejected([PLAYERS_HEADER, ...bad].join('\n'));
    expect(reason).toMatchObject({ code: 'INVALID_VALUE', errorCount: 50, truncated: true });
    expect(reason.errors).toHaveLength(20);
    expect(reason.errors[19]).toMatchObject({ line: 21, row: 20 });
    const stopped = reasonOf(
      await readFile({ config, key, body: [PLAYERS_HEADER, ...bad].join('\n'), limits: { stopAfterErrors: 10 } }),
    );
    expect(stopped).toMatchObject({ errorCount: 10, truncated: true });
    expect(stopped.message).toMatch(/^10 or more problems/);
  });

  it('never quotes personal values in errors', async () => {
    const streams = playersStream();
    const cfg = filesConfig({
      players: { ...streams, columns: { ...streams.columns, birth_date: { column: 'Born', pii: 'pseudonymize' } } },
    });
    const reason = await rejected(`${PLAYERS_HEADER},Born\n${ROW1},31/12/1990\n`, cfg);
    expect(reason.errors).toEqual([
      expect.objectContaining({ column: 'Born', code: 'INVALID_VALUE', example: REDACTED_VALUE }),
    ]);
    expect(JSON.stringify(reason)).not.toContain('1990');
  });

  it('reads dd/MM/yyyy dates and times when configured, and refuses them otherwise', async () => {
    const streams = playersStream({
      type: 'csv',
      timestampFormat: 'dd/MM/yyyy HH:mm:ss',
      dateFormat: 'dd/MM/yyyy',
    });
    const cfg = filesConfig({
      players: { ...streams, columns: { ...streams.columns, birth_date: { column: 'Born', pii: 'pseudonymize' } } },
    });
    const body = `${PLAYERS_HEADER},Born\np1,31/12/2023 23:59:58,1/2/2024 7:05:09.250,MT,3,,Active,29/02/2000\n`;
    const outcome = await accepted(body, cfg);
    expect(outcome.rows[0]).toEqual([
      'p1',
      '2023-12-31 23:59:58',
      '2024-02-01 07:05:09.250',
      'MT',
      'Active',
      '3',
      null,
      '2000-02-29',
    ]);
    const notConfigured = await rejected(
      `${PLAYERS_HEADER}\np1,31/12/2023 23:59:58,2024-01-05 11:00:00,MT,3,,Active\n`,
    );
    expect(notConfigured.errors).toEqual([
      expect.objectContaining({ line: 2, column: 'Registered', example: '"31/12/2023 23:59:58"' }),
    ]);
    // A day that does not exist, and an ISO value where dd/MM/yyyy is configured.
    const wrong = await rejected(
      `${PLAYERS_HEADER},Born\np1,31/04/2023 10:00:00,2024-01-05 11:00:00,MT,3,,Active,\n`,
      cfg,
    );
    expect(wrong.errors.map((e) => e.column)).toEqual(['Registered', 'LastModified']);
    expect(wrong.errors[0]?.message).toContain('configured format dd/MM/yyyy HH:mm:ss');
  });

  it('reads epoch timestamps as UTC instants', async () => {
    const millis = filesConfig({ players: playersStream({ type: 'csv', timestampFormat: 'epoch-millis' }) });
    const outcome = await accepted(`${PLAYERS_HEADER}\np1,1704448800000,-1,MT,3,,Active\n`, millis);
    expect(outcome.rows[0]?.slice(1, 3)).toEqual(['2024-01-05 10:00:00.000+00', '1969-12-31 23:59:59.999+00']);
    const seconds = filesConfig({ players: playersStream({ type: 'csv', timestampFormat: 'epoch-seconds' }) });
    const s = await accepted(`${PLAYERS_HEADER}\np1,1704448800.5,1704448800,MT,3,,Active\n`, seconds);
    expect(s.rows[0]?.slice(1, 3)).toEqual(['2024-01-05 10:00:00.500000000+00', '2024-01-05 10:00:00.000000000+00']);
    expect((await rejected(`${PLAYERS_HEADER}\np1,2024-01-05,1,MT,3,,Active\n`, seconds)).errors[0]?.column).toBe(
      'Registered',
    );
  });

  it('refuses an empty file and a file of blank lines; accepts a header alone with zero rows', async () => {
    expect((await rejected('')).code).toBe('EMPTY_FILE');
    expect((await rejected('\n\r\n\n')).code).toBe('EMPTY_FILE');
    const headerOnly = await accepted(`${PLAYERS_HEADER}\r\n`);
    expect(headerOnly.rows).toEqual([]);
    expect(headerOnly.validation.result).toMatchObject({ ok: true, rowsRead: 0 });
  });

  it('refuses a single 100 MB line quickly, without reading the rest', async () => {
    let produced = 0;
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    const body = Readable.from(
      (function* () {
        yield Buffer.from(`${PLAYERS_HEADER}\n`);
        for (let i = 0; i < 100; i++) {
          produced += chunk.length;
          yield chunk;
        }
      })(),
    );
    const started = performance.now();
    const reason = await rejected(body);
    expect(reason).toMatchObject({ code: 'LINE_TOO_LONG', errors: [{ line: 2 }] });
    expect(produced).toBeLessThanOrEqual(3 * 1024 * 1024);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('reports rows with a wrong number of fields, and keeps reading', async () => {
    const reason = await rejected(`${PLAYERS_HEADER}\n${ROW1},extra\n${ROW2}\np3,MT\n`);
    expect(reason.errors.map((e) => [e.code, e.line, e.row])).toEqual([
      ['FIELD_COUNT', 2, 1],
      ['FIELD_COUNT', 4, 3],
    ]);
    expect(reason.errors[0]?.message).toContain('the row has 8 fields but the header has 7');
  });

  it('refuses a quote that is never closed, and a stray quote', async () => {
    const open = await rejected(`${PLAYERS_HEADER}\n${ROW1}\np2,,2024-01-05 11:00:00,"MT,3,,Active\n`);
    expect(open.code).toBe('INVALID_CSV');
    expect(open.message).toContain('never closed');
    const stray = await rejected(`${PLAYERS_HEADER}\np1,,2024-01-05 11:00:00,M"T,3,,Active\n`);
    expect(stray).toMatchObject({ code: 'INVALID_CSV', errors: [{ line: 2 }] });
  });

  it('refuses a format whose delimiter and quote are the same character, as a rejection', async () => {
    const same = filesConfig({ players: playersStream({ type: 'csv', delimiter: "'", quote: "'" }) });
    const reason = await rejected(`${PLAYERS_HEADER}\n${ROW1}\n`, same);
    expect(reason.code).toBe('INVALID_CSV');
    expect(reason.message).toContain('streams.players.format cannot be read');
  });

  it('reads the same rows from ASCII and non-ASCII chunks, whatever the chunking', async () => {
    const text = `${PLAYERS_HEADER}\n${ROW1}\np3,,2024-01-06T09:30:00Z,"Għawdex, ""MT""",1,,Closed\n${ROW2}\n`;
    const bytes = Buffer.from(text);
    const whole = await accepted(bytes);
    expect(whole.rows[1]?.[3]).toBe('Għawdex, "MT"');
    for (const size of [1, 7, 64]) {
      const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
        bytes.subarray(i * size, (i + 1) * size),
      );
      expect((await accepted(Readable.from(chunks))).rows).toEqual(whole.rows);
    }
  });

  it('accepts decimal commas when configured, and refuses them otherwise', async () => {
    const wallet = (format: Record<string, string>) =>
      filesConfig({
        wallet_transactions: {
          columns: {
            transaction_id: 'id',
            player_id: 'player',
            amount: { column: 'amount', precision: 18, scale: 2 },
            created_at: 'booked',
          },
          format: { type: 'csv', ...format } as never,
        },
      });
    const walletKey = 'inbound/wallet_transactions/w.csv';
    const comma = wallet({ delimiter: ';', decimalSeparator: ',' });
    const body = 'id;player;amount;booked\nt1;p1;-1234,56;2024-01-05 10:00:00\nt2;p1;7;2024-01-05 10:00:00\n';
    const outcome = await readFile({ config: comma, key: walletKey, body });
    expect(outcome.rows.map((r) => r[2])).toEqual(['-1234.56', '7']);
    // A thousands separator is refused rather than guessed at.
    const thousands = reasonOf(
      await readFile({ config: comma, key: walletKey, body: 'id;player;amount;booked\nt1;p1;1.234,56;2024-01-05\n' }),
    );
    expect(thousands.errors[0]).toMatchObject({ column: 'amount', example: '"1.234,56"' });
    expect(thousands.errors[0]?.message).toContain('thousands separators are not accepted');
    const dot = wallet({ delimiter: ';' });
    const refused = reasonOf(await readFile({ config: dot, key: walletKey, body }));
    expect(refused.errors).toEqual([
      expect.objectContaining({ line: 2, row: 1, column: 'amount', example: '"-1234,56"' }),
    ]);
    // Too many decimals for the configured scale.
    const scale = reasonOf(
      await readFile({ config: comma, key: walletKey, body: 'id;player;amount;booked\nt1;p1;1,234;2024-01-05\n' }),
    );
    expect(scale.errors[0]?.message).toContain('has 3 decimals but the landed type is DECIMAL(18,2)');
  });

  it('refuses a Parquet file dropped where CSV is configured', async () => {
    const parquet = parquetOf(tableFromArrays({ a: Int32Array.from([1]) }));
    expect(await rejected(parquet)).toMatchObject({ code: 'WRONG_FORMAT' });
  });
});

/** windows-1252 bytes of a text made of Latin-1 characters and €. */
function encode1252(text: string): number[] {
  return [...text].map((ch) => (ch === '€' ? 0x80 : ch.charCodeAt(0)));
}
