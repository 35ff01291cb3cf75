import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from '#shared/config/did-you-mean';
import { checkScheduleExpression, SAFE_IDENTIFIER } from '#shared/config/schema';

describe('checkScheduleExpression', () => {
  it.each([
    'rate(5 minutes)',
    'rate(15 minutes)',
    'rate(1 hour)',
    'rate(6 hours)',
    'rate(1 day)',
    'cron(0/10 * * * ? *)',
    'cron(0 2 ? * MON-FRI *)',
  ])('accepts %s', (expr) => {
    expect(checkScheduleExpression(expr)).toBeUndefined();
  });

  it.each([
    ['rate(1 hours)', 'use the singular unit for 1: rate(1 hour)'],
    ['rate(2 minute)', 'use the plural unit for 2: rate(2 minutes)'],
    ['rate(0 minutes)', 'a rate must be at least 1'],
    ['rate(4 minutes)', 'at most every 5 minutes'],
    ['rate(25 hours)', 'at least once a day'],
    ['rate(15 mins)', 'a rate is written rate(<number> <minutes|hours|days>)'],
    ['cron(* * * *)', 'got 4'],
    ['cron(0 12 * * * *)', 'one of day-of-month or day-of-week must be "?"'],
    ['cron(0 12 ; * ? *)', 'unexpected character'],
    ['every 5 minutes', 'expected rate(<n> <minutes|hours|days>) or cron(<6 fields>)'],
  ])('refuses %s', (expr, reason) => {
    expect(checkScheduleExpression(expr)).toContain(reason);
  });
});

describe('SAFE_IDENTIFIER', () => {
  it.each(['players', '_tmp', 'Tx_Payments2', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(SAFE_IDENTIFIER.test(name)).toBe(true);
  });

  it.each(['players; DROP TABLE x', '"quoted"', 'a.b', 'has space', '1abc', '', 'a'.repeat(64), 'x`y', "o'brien"])(
    'refuses %s',
    (name) => {
      expect(SAFE_IDENTIFIER.test(name)).toBe(false);
    },
  );
});

describe('didYouMean', () => {
  it('suggests close typos', () => {
    expect(didYouMean('snapsot', ['snapshot', 'streams'])).toBe('snapshot');
    expect(didYouMean('lookbackMinuts', ['schedule', 'lookbackMinutes'])).toBe('lookbackMinutes');
    expect(didYouMean('Payments', ['players', 'payments'])).toBe('payments');
  });

  it('suggests the one candidate an abbreviation stands for', () => {
    expect(didYouMean('prod', ['sandbox', 'production'])).toBe('production');
    expect(didYouMean('pro', ['production', 'provider'])).toBeUndefined();
  });

  it('suggests nothing for unrelated words', () => {
    expect(didYouMean('banana', ['snapshot', 'streams', 'source'])).toBeUndefined();
    expect(didYouMean('x', [])).toBeUndefined();
  });

  it('measures edits ignoring case', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('ABC', 'abc')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
