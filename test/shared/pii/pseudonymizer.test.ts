import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPseudonymizer, normalizeForPseudonym } from '#shared/pii/pseudonymizer';

describe('createPseudonymizer', () => {
  it('is HMAC-SHA256 in hex (RFC 4231 test case 6)', () => {
    const key = Buffer.alloc(131, 0xaa);
    const p = createPseudonymizer(key);
    expect(p.pseudonymize('Test Using Larger Than Block-Size Key - Hash Key First')).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    );
  });

  it('is deterministic across instances and differs across keys', () => {
    const key = randomBytes(32);
    const a = createPseudonymizer(key);
    const b = createPseudonymizer(Buffer.from(key));
    const other = createPseudonymizer(randomBytes(32));
    expect(a.pseudonymize('player-1')).toBe(b.pseudonymize('player-1'));
    expect(a.pseudonymize('player-1')).not.toBe(other.pseudonymize('player-1'));
    expect(a.pseudonymize('player-1')).not.toBe(a.pseudonymize('player-2'));
    expect(a.pseudonymize('player-1')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stays correct while its bounded cache turns over', () => {
    const key = randomBytes(32);
    const p = createPseudonymizer(key, { cacheSize: 8 });
    const expected = (v: string) => createHmac('sha256', key).update(v).digest('hex');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) expect(p.pseudonymize(`id-${i % 13}`)).toBe(expected(`id-${i % 13}`));
    }
  });

  it('keeps its own copy of the key', () => {
    const key = randomBytes(32);
    const before = createHmac('sha256', key).update('x').digest('hex');
    const p = createPseudonymizer(key, { cacheSize: 2 });
    key.fill(0);
    expect(p.pseudonymize('x')).toBe(before);
    expect(JSON.stringify(p)).not.toContain(before.slice(0, 8));
  });

  it('refuses a short key', () => {
    expect(() => createPseudonymizer(Buffer.alloc(16))).toThrow('a pseudonym key has 32 bytes, got 16');
  });
});

describe('normalizeForPseudonym', () => {
  const exact = { caseInsensitive: false, padSpace: false };
  const ciPad = { caseInsensitive: true, padSpace: true };

  it('trims and lower-cases e-mail addresses, whatever the key comparison', () => {
    expect(normalizeForPseudonym('players', 'email', '  Alice@Example.COM\n', exact)).toBe('alice@example.com');
    expect(normalizeForPseudonym('players', 'email', '  Alice@Example.COM\n', ciPad)).toBe('alice@example.com');
  });

  it('hashes key and reference fields in the key form of the source', () => {
    expect(normalizeForPseudonym('players', 'player_id', ' AbC ', exact)).toBe(' AbC ');
    expect(normalizeForPseudonym('players', 'player_id', ' AbC ', ciPad)).toBe(' abc');
    expect(normalizeForPseudonym('payments', 'player_id', 'Ace-Key ', ciPad)).toBe('ace-key');
    // Primary keys and other references too, when an operator pseudonymizes them.
    expect(normalizeForPseudonym('sessions', 'session_id', 'S-1 ', ciPad)).toBe('s-1');
    expect(normalizeForPseudonym('wallet_transactions', 'round_id', 'R-1 ', ciPad)).toBe('r-1');
  });

  it('hashes other fields exactly', () => {
    expect(normalizeForPseudonym('sessions', 'ip', '10.0.0.1 ', ciPad)).toBe('10.0.0.1 ');
    expect(normalizeForPseudonym('players', 'affiliate_id', 'AFF ', ciPad)).toBe('AFF ');
  });
});
