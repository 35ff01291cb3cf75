import { describe, expect, it } from 'vitest';
import { decodeS3EventKey, type InboundKeyRejection, parseInboundKey } from '#shared/files/index';
import { filesConfig, PAYMENTS_JSONL, playersStream } from './fixtures.ts';

const config = filesConfig({ players: playersStream(), payments: PAYMENTS_JSONL });

function rejected(key: string): InboundKeyRejection {
  const result = parseInboundKey(key, config);
  if (result.ok) throw new Error(`expected ${JSON.stringify(key)} to be refused`);
  return result;
}

describe('parseInboundKey', () => {
  it('accepts inbound/<stream>/<file>, with sub-folders and Unicode letters', () => {
    expect(parseInboundKey('inbound/players/players-2024-05-01.csv', config)).toEqual({
      ok: true,
      stream: 'players',
      name: 'players-2024-05-01.csv',
    });
    expect(parseInboundKey('inbound/payments/dt=2024-05-01/part (1)+Müller_日本.jsonl.gz', config)).toEqual({
      ok: true,
      stream: 'payments',
      name: 'dt=2024-05-01/part (1)+Müller_日本.jsonl.gz',
    });
  });

  it('refuses ".." anywhere', () => {
    expect(rejected('inbound/players/../payments/x.csv')).toMatchObject({ code: 'INVALID_KEY', stream: 'players' });
    expect(rejected('inbound/players/x..csv').message).toContain('".."');
  });

  it('refuses odd characters, naming the character', () => {
    expect(rejected('inbound/players/a;rm -rf.csv').message).toContain('";" (U+003B)');
    expect(rejected('inbound/players/a\nb.csv').message).toContain('U+000A');
    // A right-to-left override disguises "exe.csv" as "vsc.exe".
    expect(rejected('inbound/players/invoice\u202Evsc.exe').message).toContain('U+202E');
    expect(rejected('inbound/players/a\\b.csv').code).toBe('INVALID_KEY');
    expect(rejected('inbound/players/report%20.csv').code).toBe('INVALID_KEY');
  });

  it('refuses a leading slash, empty segments, hidden files and keys over 1024 bytes', () => {
    expect(rejected('/inbound/players/x.csv').message).toContain('starts with "/"');
    expect(rejected('inbound//players/x.csv').code).toBe('INVALID_KEY');
    expect(rejected('inbound/players//x.csv').message).toContain('empty path segment');
    expect(rejected('inbound/players/.DS_Store').message).toContain('hidden file');
    expect(rejected('inbound/players/x.csv ').message).toContain('space');
    expect(rejected(`inbound/players/${'é'.repeat(510)}.csv`).message).toContain('1024');
    expect(rejected('raw/players/x.csv').message).toContain('not under inbound/');
    expect(rejected('inbound/x.csv').message).toContain('no stream folder');
  });

  it('marks folder markers so they can be skipped', () => {
    expect(rejected('inbound/players/')).toMatchObject({ code: 'INVALID_KEY', folderMarker: true, stream: 'players' });
    expect(rejected('inbound/players/../x.csv').folderMarker).toBe(false);
  });

  it('refuses unknown streams with a suggestion, and canonical streams not configured', () => {
    const typo = rejected('inbound/player/x.csv');
    expect(typo.code).toBe('UNKNOWN_STREAM');
    expect(typo.message).toContain('did you mean "players"?');
    expect(typo.stream).toBeNull();
    const unconfigured = rejected('inbound/bonuses/x.csv');
    expect(unconfigured).toMatchObject({ code: 'UNKNOWN_STREAM', stream: 'bonuses' });
    expect(unconfigured.message).toContain('not configured for lucky-files');
  });

  it('decodes S3 event keys', () => {
    expect(decodeS3EventKey('inbound/players/my+file%C3%BC.csv')).toBe('inbound/players/my fileü.csv');
    expect(decodeS3EventKey('inbound/players/%E0%A4%A.csv')).toBeUndefined();
  });
});
