import { describe, expect, it } from 'vitest';
import { scrubSecrets } from '#shared/scrub';

describe('scrubSecrets', () => {
  it('removes a secret that stands on its own, wherever it is', () => {
    expect(scrubSecrets('password authentication failed (tried hunter2)', ['hunter2'])).toBe(
      'password authentication failed (tried ***)',
    );
    expect(scrubSecrets('"password":"o" and o: and o', ['o'])).toBe('"password":"***" and ***: and ***');
    expect(scrubSecrets('url postgres://u:s3cr%t@h', ['s3cr%t'])).toBe('url postgres://u:***@h');
    expect(scrubSecrets('x', [])).toBe('x');
    expect(scrubSecrets('x', ['', undefined])).toBe('x');
  });

  it('never mangles words that merely contain a short password', () => {
    expect(scrubSecrets('cannot connect to the database', ['o'])).toBe('cannot connect to the database');
    expect(scrubSecrets('connecting: ECONNREFUSED', ['on'])).toBe('connecting: ECONNREFUSED');
  });

  it('removes the longer of two overlapping secrets whole', () => {
    expect(scrubSecrets('tried abc-def', ['abc', 'abc-def'])).toBe('tried ***');
  });
});
