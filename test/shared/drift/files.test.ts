import { describe, expect, it } from 'vitest';
import { quarantineDrift } from '#shared/drift/files';
import type { QuarantineReason } from '#shared/files/index';

const reason = (errors: { code: string; column: string | null }[]): QuarantineReason =>
  ({
    version: 1,
    operatorId: 'lucky-files',
    file: 'inbound/players/x.csv',
    stream: 'players',
    code: errors[0]?.code ?? 'UNEXPECTED_COLUMN',
    message: 'header problems',
    size: 10,
    receivedAt: '2026-01-01T00:00:00.000Z',
    errors: errors.map((e) => ({ line: 1, row: null, example: null, message: 'm', ...e })),
    errorCount: errors.length,
    truncated: false,
  }) as QuarantineReason;

const previous = [
  { name: 'PlayerID', type: 'text', kind: 'text' as const },
  { name: 'Country', type: 'text', kind: 'text' as const },
];

describe('quarantineDrift', () => {
  it('reports a header column the last landed file did not have, and one it had that is missing', () => {
    expect(
      quarantineDrift(
        reason([
          { code: 'UNEXPECTED_COLUMN', column: 'Segment' },
          { code: 'MISSING_COLUMN', column: 'Country' },
        ]),
        previous,
      ),
    ).toEqual([
      { change: 'added', column: 'Segment' },
      { change: 'removed', column: 'Country' },
    ]);
  });

  it('never reports a header that may be data (no column named), an unnamed column, or a row problem', () => {
    expect(
      quarantineDrift(
        reason([
          { code: 'UNEXPECTED_COLUMN', column: null },
          { code: 'UNEXPECTED_COLUMN', column: '' },
          { code: 'INVALID_VALUE', column: 'Country' },
        ]),
        previous,
      ),
    ).toEqual([]);
  });

  it('does not report a column the last landed file also had (the agreed list changed, not the export)', () => {
    expect(quarantineDrift(reason([{ code: 'UNEXPECTED_COLUMN', column: 'country' }]), previous)).toEqual([]);
  });
});
