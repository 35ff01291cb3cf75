import { describe, expect, it } from 'vitest';
import { filesConfig, gzip, PAYMENTS_JSONL, readFile, reasonOf } from './fixtures.ts';

const config = filesConfig({ payments: PAYMENTS_JSONL });
const key = 'inbound/payments/payments-2024-05-01.jsonl';

function payment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    payment_id: 'pay-1',
    player_id: 'p1',
    direction: 'deposit',
    amount: 10.5,
    currency: 'EUR',
    status: 'approved',
    created_at: '2024-05-01T10:00:00Z',
    updated_at: '2024-05-01 12:00:00.123456+02:00',
    ...overrides,
  };
}

const line = (o: Record<string, unknown>) => JSON.stringify(o);

describe('JSON Lines files', () => {
  it('keeps big decimals and 64-bit integers exact', async () => {
    // Written by hand: JSON.stringify cannot write these numbers exactly.
    const body = [
      '{"payment_id": 9223372036854775807, "player_id": "p1", "direction": "deposit", "amount": 1234567890123456789012345678.0123456789, "currency": "EUR", "status": "approved", "created_at": null, "updated_at": "2024-05-01T10:00:00Z"}',
      '{"payment_id": "pay-2", "player_id": "p1", "direction": "withdrawal", "amount": -0.0000000001, "currency": "EUR", "status": "approved", "created_at": "2024-05-01T09:00:00Z", "updated_at": "2024-05-01T10:00:00Z"}',
      '{"payment_id": "pay-3", "player_id": "p1", "direction": "withdrawal", "amount": 1.5E+3, "currency": "EUR", "status": true, "created_at": "2024-05-01T09:00:00Z", "updated_at": "2024-05-01T10:00:00Z"}',
    ].join('\n');
    const outcome = await readFile({ config, key, body });
    expect(outcome.validation.ok).toBe(true);
    expect(outcome.rows.map((r) => [r[0], r[3]])).toEqual([
      ['9223372036854775807', '1234567890123456789012345678.0123456789'],
      ['pay-2', '-0.0000000001'],
      ['pay-3', '1.5E+3'],
    ]);
    expect(outcome.rows[0]?.[6]).toBeNull();
    expect(outcome.rows[2]?.[5]).toBe('true');
  });

  it('refuses a file with a broken line, giving its line number and going on to list the others', async () => {
    const body = [
      line(payment()),
      '',
      '{"payment_id": "pay-2", "player_id": "secret-player", "amount": 1,',
      line(payment({ payment_id: 'pay-3' })),
      '   ',
      '[1, 2]',
      '{"payment_id": "pay-5" "amount": 2}',
    ].join('\r\n');
    const reason = reasonOf(await readFile({ config, key: 'inbound/payments/x.jsonl.gz', body: gzip(body) }));
    expect(reason).toMatchObject({ code: 'INVALID_JSON', errorCount: 3, truncated: false });
    expect(reason.errors.map((e) => [e.code, e.line, e.row])).toEqual([
      ['INVALID_JSON', 3, 2],
      ['INVALID_JSON', 6, 4],
      ['INVALID_JSON', 7, 5],
    ]);
    expect(reason.errors[0]?.message).toContain('the line ends before the JSON value does');
    expect(reason.errors[1]?.message).toContain('is a JSON array, not an object');
    expect(reason.errors[2]?.message).toMatch(/not valid JSON at character \d+/);
    // V8's own SyntaxError text quotes the line; the reason must not.
    expect(JSON.stringify(reason)).not.toContain('secret-player');
  });

  it('ignores blank lines and accepts a final line without a newline', async () => {
    const body = `\n${line(payment())}\n\n${line(payment({ payment_id: 'pay-2' }))}`;
    const outcome = await readFile({ config, key, body });
    expect(outcome.rows.map((r) => r[0])).toEqual(['pay-1', 'pay-2']);
    expect(outcome.validation.result?.rowsRead).toBe(2);
  });

  it('refuses an unmapped key, whole file', async () => {
    const body = [line(payment()), line(payment({ card_number: '4111111111111111' }))].join('\n');
    const reason = reasonOf(await readFile({ config, key, body }));
    expect(reason).toMatchObject({ code: 'UNEXPECTED_COLUMN', errors: [{ line: 2, column: 'card_number' }] });
    expect(JSON.stringify(reason)).not.toContain('4111');
  });

  it('reads an absent key as NULL, but refuses a mapped key absent from every line', async () => {
    const { created_at: _, ...withoutCreated } = payment();
    const someLines = [line(payment()), line(withoutCreated)].join('\n');
    const outcome = await readFile({ config, key, body: someLines });
    expect(outcome.rows[1]?.[6]).toBeNull();
    const reason = reasonOf(
      await readFile({ config, key, body: [line(withoutCreated), line(withoutCreated)].join('\n') }),
    );
    expect(reason).toMatchObject({ code: 'MISSING_COLUMN', errors: [{ column: 'created_at', line: null }] });
  });

  it('refuses two keys for one column in one object', async () => {
    const body = `{"payment_id":"a","PAYMENT_ID":"b","player_id":"p","direction":"deposit","amount":1,"currency":"EUR","status":"approved","created_at":null,"updated_at":"2024-05-01T10:00:00Z"}`;
    expect(reasonOf(await readFile({ config, key, body }))).toMatchObject({
      code: 'DUPLICATE_COLUMN',
      errors: [{ line: 1, column: 'payment_id' }],
    });
  });

  it('checks values like CSV values: types, required fields, nested values', async () => {
    const body = [
      line(payment({ amount: '12.5x' })),
      line(payment({ payment_id: null })),
      line(payment({ amount: { value: 1 } })),
      line(payment({ updated_at: 1714557600000 })),
    ].join('\n');
    const reason = reasonOf(await readFile({ config, key, body }));
    expect(reason.errors.map((e) => [e.line, e.column, e.example])).toEqual([
      [1, 'amount', '"12.5x"'],
      [2, 'payment_id', null],
      [3, 'amount', null],
      [4, 'updated_at', '"1714557600000"'],
    ]);
    // The same epoch value is read once the format says so.
    const epoch = filesConfig({
      payments: { ...PAYMENTS_JSONL, format: { type: 'jsonl', timestampFormat: 'epoch-millis' } },
    });
    const outcome = await readFile({
      config: epoch,
      key,
      body: line(payment({ created_at: null, updated_at: 1714557600000 })),
    });
    expect(outcome.rows[0]?.[7]).toBe('2024-05-01 10:00:00.000+00');
  });

  it('refuses a line longer than the maximum record size', async () => {
    const body = `${line(payment())}\n${line(payment({ payment_id: 'x'.repeat(5000) }))}\n${line(payment())}`;
    expect(reasonOf(await readFile({ config, key, body, limits: { maxRecordBytes: 4096 } }))).toMatchObject({
      code: 'LINE_TOO_LONG',
      errors: [{ line: 2 }],
    });
  });

  it('refuses an empty or blank file', async () => {
    expect(reasonOf(await readFile({ config, key, body: '\n \n' })).code).toBe('EMPTY_FILE');
  });
});
