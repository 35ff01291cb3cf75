import { describe, expect, it } from 'vitest';
import { longestRepeatedMinutes, minimumNaiveLookbackMinutes } from '#shared/config/incremental';
import { parseOperatorConfig } from '#shared/config/load';
import { edit, expectIssue, FILE, FILES, lineOf, PG } from './fixtures.ts';

const inZone = (zone: string, text = PG) =>
  edit(text, '  database: casino\n', `  database: casino\n  timeZone: ${zone}\n`);
const withIncremental = (text: string, lines: string) => `${text}incremental:\n${lines}`;
const at = (iso: string) => new Date(iso);

describe('the longest repeated wall-clock span of a zone', () => {
  it('is the largest backward change of its UTC offset, from the runtime time zone data', () => {
    const now = at('2026-06-01T00:00:00Z');
    expect(minimumNaiveLookbackMinutes('Europe/Malta', now)).toBe(60);
    expect(minimumNaiveLookbackMinutes('Australia/Lord_Howe', now)).toBe(30);
    expect(minimumNaiveLookbackMinutes('Antarctica/Troll', now)).toBe(120);
    expect(minimumNaiveLookbackMinutes('America/New_York', now)).toBe(60);
    expect(minimumNaiveLookbackMinutes('UTC', now)).toBe(0);
    expect(minimumNaiveLookbackMinutes('Asia/Tokyo', now)).toBe(0);
  });

  it('counts a permanent change of the standard offset, not only daylight saving time', () => {
    // Moscow went from +04 to +03 on 2014-10-26 and has not changed since.
    expect(longestRepeatedMinutes('Europe/Moscow', at('2014-01-01T00:00:00Z'), at('2015-01-01T00:00:00Z'))).toBe(60);
    expect(longestRepeatedMinutes('Europe/Moscow', at('2016-01-01T00:00:00Z'), at('2026-01-01T00:00:00Z'))).toBe(0);
    // Clocks going forward repeat nothing: Caracas moved from -04:30 to -04 on 2016-05-01.
    expect(longestRepeatedMinutes('America/Caracas', at('2016-01-01T00:00:00Z'), at('2017-01-01T00:00:00Z'))).toBe(0);
  });
});

describe('incremental settings that lose rows', () => {
  it('refuses a lookback shorter than the repeated hour of the source zone, naming the zone and the minimum', () => {
    const text = withIncremental(inZone('Europe/Malta'), '  lookbackMinutes: 30\n');
    expectIssue(text, {
      path: 'incremental.lookbackMinutes',
      line: lineOf(text, 'lookbackMinutes'),
      message: [
        'incremental.lookbackMinutes is 30, but Europe/Malta (source.timeZone) repeats up to 60 minutes of wall-clock time',
        'Set incremental.lookbackMinutes to at least 60',
        'cursorType: zoned',
        ': payments',
      ],
      expected: 'at least 60 (the longest repeated wall-clock span of Europe/Malta)',
      example: ['incremental:\n  lookbackMinutes: 60'],
    });
    const howe = withIncremental(inZone('Australia/Lord_Howe'), '  lookbackMinutes: 20\n');
    expectIssue(howe, {
      path: 'incremental.lookbackMinutes',
      message: ['Australia/Lord_Howe (source.timeZone) repeats up to 30 minutes', 'at least 30'],
    });
  });

  it('accepts a lookback that covers the repeated hour, any lookback in a zone without one, and zoned cursors', () => {
    for (const text of [
      withIncremental(inZone('Europe/Malta'), '  lookbackMinutes: 60\n'),
      withIncremental(inZone('Australia/Lord_Howe'), '  lookbackMinutes: 30\n'),
      withIncremental(inZone('Asia/Tokyo'), '  lookbackMinutes: 5\n'),
      withIncremental(PG, '  lookbackMinutes: 0\n'),
      withIncremental(
        edit(inZone('Europe/Malta'), '    table: payments\n', '    table: payments\n    cursorType: zoned\n'),
        '  lookbackMinutes: 10\n',
      ),
    ]) {
      expect(parseOperatorConfig(text, FILE).issues).toEqual([]);
    }
  });

  it('refuses no lookback with no safety lag, saying what each is for', () => {
    const text = withIncremental(PG, '  lookbackMinutes: 0\n  safetyLagSeconds: 0\n');
    expectIssue(text, {
      path: 'incremental.lookbackMinutes',
      message: ['lookbackMinutes: 0 with safetyLagSeconds: 0 loses rows', 'commits after it', 'never read'],
      expected: 'a lookback of at least a few minutes',
      example: ['incremental:\n  lookbackMinutes: 60\n  safetyLagSeconds: 60'],
    });
    expect(
      parseOperatorConfig(withIncremental(PG, '  lookbackMinutes: 5\n  safetyLagSeconds: 0\n'), FILE).issues,
    ).toEqual([]);
  });

  it('refuses cursorType on a file-drop stream', () => {
    const text = edit(FILES, '  players:\n', '  players:\n    cursorType: zoned\n');
    expectIssue(text, {
      path: 'streams.players.cursorType',
      message: ['cursorType only applies to database streams'],
    });
  });
});
