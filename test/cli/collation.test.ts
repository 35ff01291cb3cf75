import { describe, expect, it } from 'vitest';
import {
  compareGrouping,
  describeColumnComparison,
  keyComparisonOf,
  mysqlColumnComparison,
  postgresColumnComparison,
} from '../../cli/collation.ts';

describe('mysqlColumnComparison', () => {
  it.each([
    // name, PAD_ATTRIBUTE (MySQL 8) or undefined (MariaDB), case-insensitive, pad space, accents beyond
    ['utf8mb4_general_ci', undefined, true, true, true],
    ['utf8mb4_unicode_ci', undefined, true, true, true],
    ['utf8mb4_bin', undefined, false, true, false],
    ['utf8mb4_nopad_bin', undefined, false, false, false],
    ['utf8mb4_general_nopad_ci', undefined, true, false, true],
    ['utf8mb4_uca1400_as_ci', undefined, true, true, false],
    ['utf8mb4_uca1400_nopad_ai_ci', undefined, true, false, true],
    ['latin1_swedish_ci', undefined, true, true, true],
    ['latin1_general_cs', undefined, false, true, false],
    ['utf8mb4_0900_ai_ci', 'NO PAD', true, false, true],
    ['utf8mb4_0900_as_cs', 'NO PAD', false, false, false],
    ['utf8mb4_0900_bin', 'NO PAD', false, false, false],
    ['utf8mb4_bin', 'PAD SPACE', false, true, false],
    ['utf8mb4_general_ci', 'PAD SPACE', true, true, true],
    ['binary', undefined, false, false, false],
  ] as const)('%s (%s)', (name, pad, ci, padSpace, accents) => {
    const c = mysqlColumnComparison(name, pad);
    expect(c).toMatchObject({ collation: name, caseInsensitive: ci, padSpace, known: true });
    expect(c.beyond.some((b) => b.includes('accented'))).toBe(accents);
    if (!ci) expect(c.beyond).toEqual([]);
  });

  it('names what general and UCA collations equate beyond case', () => {
    expect(mysqlColumnComparison('utf8mb4_general_ci').beyond).toContain('ß and s');
    expect(mysqlColumnComparison('utf8mb4_unicode_520_ci').beyond).toContain('expansions (ß = ss, æ = ae)');
  });

  it('says when it does not recognize a collation', () => {
    const c = mysqlColumnComparison('utf8mb4_thing');
    expect(c.known).toBe(false);
    expect(describeColumnComparison(c)).toBe(
      'utf8mb4_thing: case-sensitive, trailing spaces ignored (unrecognized collation)',
    );
  });
});

describe('postgresColumnComparison', () => {
  it('is exact for deterministic collations, PAD SPACE for character(n), case-insensitive for citext', () => {
    expect(postgresColumnComparison({ baseType: 'varchar', collation: 'default', deterministic: true })).toEqual({
      collation: 'default',
      caseInsensitive: false,
      padSpace: false,
      beyond: [],
      known: true,
    });
    expect(
      keyComparisonOf(postgresColumnComparison({ baseType: 'bpchar', collation: 'C', deterministic: true })),
    ).toEqual({ caseInsensitive: false, padSpace: true });
    expect(
      keyComparisonOf(postgresColumnComparison({ baseType: 'citext', collation: 'default', deterministic: true })),
    ).toEqual({ caseInsensitive: true, padSpace: false });
    expect(postgresColumnComparison({ baseType: 'text', collation: 'ci', deterministic: false })).toMatchObject({
      known: false,
      beyond: ['nondeterministic collation ci (ICU rules)'],
    });
  });
});

describe('compareGrouping', () => {
  const ciPad = { caseInsensitive: true, padSpace: true };
  const exact = { caseInsensitive: false, padSpace: false };

  it('agrees when the source groups values as the key form does', () => {
    const sample: [string, number][] = [
      ['Ace-Key', 1],
      ['ace-key  ', 1],
      ['MiXeD', 2],
      ['mixed', 2],
      ['plain', 3],
    ];
    expect(compareGrouping(sample, ciPad)).toEqual({
      values: 5,
      sourceGroups: 3,
      forms: 3,
      splitBySourceRule: 0,
      mergedByKeyForm: 0,
    });
    expect(compareGrouping(sample, exact)).toMatchObject({ forms: 5, splitBySourceRule: 2, mergedByKeyForm: 0 });
  });

  it('counts groups the source makes that the key form splits, and forms that merge source groups', () => {
    const sample: [string, number][] = [
      ['Zeta', 1],
      ['Zéta', 1],
      ['\u212a-7', 2],
      ['k-7', 3],
    ];
    expect(compareGrouping(sample, ciPad)).toEqual({
      values: 4,
      sourceGroups: 3,
      forms: 3,
      splitBySourceRule: 1,
      mergedByKeyForm: 1,
    });
  });
});
