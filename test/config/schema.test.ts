import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from '#shared/config/did-you-mean';
import { checkScheduleExpression } from '#shared/config/schedule';
import { SAFE_IDENTIFIER } from '#shared/config/schema';

describe('checkScheduleExpression', () => {
  it.each([
    'rate(5 minutes)',
    'rate(15 minutes)',
    'rate(1 hour)',
    'rate(6 hours)',
    'rate(1 day)',
    'cron(0/10 * * * ? *)',
    'cron(*/5 * * * ? *)',
    'cron(0 2 ? * MON-FRI *)',
    'cron(0 2 ? * 2-6 *)',
    'cron(0,30 8-18 ? * MON-FRI *)',
    'cron(15 3 L * ? *)',
    'cron(15 3 LW * ? *)',
    'cron(15 3 15W * ? *)',
    'cron(0 6 ? * 6L *)',
    'cron(0 6 ? * FRI#2 *)',
    'cron(0 6 1 JAN-DEC ? 2026-2199)',
    'cron(58 0,23 * * ? *)', // 00:58 and 23:58: an hour apart across midnight
    'cron(0,55 * * * ? *)', // 55 minutes, then 5 minutes across the hour
  ])('accepts %s', (expr) => {
    expect(checkScheduleExpression(expr, new Date('2026-03-01T00:00:00Z'))).toBeUndefined();
  });

  it.each([
    ['rate(1 hours)', 'use the singular unit for 1: rate(1 hour)'],
    ['rate(2 minute)', 'use the plural unit for 2: rate(2 minutes)'],
    ['rate(0 minutes)', 'a rate must be at least 1'],
    ['rate(4 minutes)', 'at most every 5 minutes'],
    ['rate(25 hours)', 'at least once a day'],
    ['rate(15 mins)', 'a rate is written rate(<number> <minutes|hours|days>)'],
    ['cron(* * * *)', 'got 4'],
    ['cron(0 12 * * * *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(0 12 ? * ? *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(0 12 ; * ? *)', 'day-of-month: ";" is not a number'],
    ['cron(99 * * * ? *)', 'minutes: 99 is out of range (0-59)'],
    ['cron(0 25 * * ? *)', 'hours: 25 is out of range (0-23)'],
    ['cron(0 12 32 * ? *)', 'day-of-month: 32 is out of range (1-31)'],
    ['cron(0 12 1 13 ? *)', 'month: 13 is out of range (1-12)'],
    ['cron(0 12 ? * 8 *)', 'day-of-week: 8 is out of range (1-7)'],
    ['cron(0 12 ? * FRI#6 *)', 'the occurrence in "FRI#6" must be from 1 to 5'],
    ['cron(0 12 1 * ? 1969)', 'year: 1969 is out of range (1970-2199)'],
    ['cron(0 12 1 * ? 2020)', 'never runs'],
    ['cron(0 12 ? * 5-2 *)', 'runs backwards'],
    ['cron(0/0 * * * ? *)', 'the increment in "0/0" must be a number from 1 to 59'],
    ['cron(0 12 L-3 * ? *)', 'day-of-month: "L-3" is not valid'],
    ['cron(0 12 ? * 3W *)', 'day-of-week: "3W" is not valid'],
    ['cron(* * * * ? *)', 'runs 1 minute apart at times; incremental syncs run at most every 5 minutes'],
    ['cron(0/2 * * * ? *)', 'runs 2 minutes apart'],
    ['cron(0,58 * * * ? *)', 'runs 2 minutes apart'], // 00:58 → 01:00
    ['cron(0,58 0,23 * * ? *)', 'runs 2 minutes apart'], // 23:58 → 00:00 the next day
    ['every 5 minutes', 'expected rate(<n> <minutes|hours|days>) or cron(<6 fields>)'],
  ])('refuses %s', (expr, reason) => {
    expect(checkScheduleExpression(expr, new Date('2026-03-01T00:00:00Z'))).toContain(reason);
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
