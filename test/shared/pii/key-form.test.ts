import { describe, expect, it } from 'vitest';
import { CASE_FOLDING_RUNS, CASE_FOLDING_SIZE, CASE_FOLDING_UNICODE_VERSION } from '#shared/pii/case-folding';
import {
  describeKeyComparison,
  EXACT_KEY_COMPARISON,
  keyForm,
  simpleCaseFold,
  trimTrailingSpaces,
} from '#shared/pii/key-form';

const CI_PAD = { caseInsensitive: true, padSpace: true };
const CI = { caseInsensitive: true, padSpace: false };
const PAD = { caseInsensitive: false, padSpace: true };

describe('keyForm', () => {
  it('keeps every byte under exact comparison', () => {
    for (const v of ['Ace-Key ', ' AbC ', 'mixed-kase', 'MiXeD-Kase', 'ß', '']) {
      expect(keyForm(v, EXACT_KEY_COMPARISON)).toBe(v);
    }
  });

  it('drops trailing spaces under PAD SPACE, and nothing else', () => {
    expect(keyForm('Ace-Key ', PAD)).toBe('Ace-Key');
    expect(keyForm('Ace-Key   ', PAD)).toBe('Ace-Key');
    expect(keyForm('   ', PAD)).toBe('');
    // Leading spaces count; so do trailing tabs, newlines and no-break spaces (PAD SPACE pads with U+0020 only).
    expect(keyForm(' Ace-Key', PAD)).toBe(' Ace-Key');
    expect(keyForm('Ace-Key\t', PAD)).toBe('Ace-Key\t');
    expect(keyForm('Ace-Key\n', PAD)).toBe('Ace-Key\n');
    expect(keyForm('Ace-Key\u00a0', PAD)).toBe('Ace-Key\u00a0');
    expect(keyForm('Ace-Key \t ', PAD)).toBe('Ace-Key \t');
    expect(keyForm('MiXeD', PAD)).toBe('MiXeD');
  });

  it('folds case under case-insensitive comparison and keeps trailing spaces unless PAD SPACE', () => {
    expect(keyForm('MiXeD-Kase', CI)).toBe('mixed-kase');
    expect(keyForm('Ace-Key ', CI)).toBe('ace-key ');
    expect(keyForm('Ace-Key ', CI_PAD)).toBe('ace-key');
    expect(keyForm('ACE-KEY', CI_PAD)).toBe(keyForm('ace-key   ', CI_PAD));
  });

  it('makes the values the source finds equal one form, and keeps the others apart', () => {
    const forms = (values: string[]) => new Set(values.map((v) => keyForm(v, CI_PAD))).size;
    expect(forms(['Ace-Key', 'Ace-Key ', 'ace-key', 'ACE-KEY  '])).toBe(1);
    expect(forms(['mixed-kase', 'MiXeD-Kase'])).toBe(1);
    expect(forms(['Ace-Key', 'Ace-Key\t', ' Ace-Key', 'AceKey'])).toBe(4);
  });
});

describe('simpleCaseFold', () => {
  it('folds one code point to one code point, without locale or context', () => {
    expect(simpleCaseFold('ÀÉÎÕÜ')).toBe('àéîõü');
    expect(simpleCaseFold('ΣΑΣ')).toBe('σασ');
    // Final sigma folds like any sigma (toLowerCase would give a context-dependent ς).
    expect(simpleCaseFold('ας')).toBe('ασ');
    expect(simpleCaseFold('ΑΣ')).toBe('ασ');
    expect('ΑΣ'.toLowerCase()).toBe('ας');
    // µ (micro sign) and the Kelvin sign fold onto the letters they resemble.
    expect(simpleCaseFold('\u00b5')).toBe('\u03bc');
    expect(simpleCaseFold('\u212a')).toBe('k');
    // Simple folding keeps ß (full folding would expand it to "ss"); capital ẞ folds to ß.
    expect(simpleCaseFold('ß')).toBe('ß');
    expect(simpleCaseFold('\u1e9e')).toBe('ß');
    // İ has no simple folding (only the Turkic and full ones), so it stays.
    expect(simpleCaseFold('\u0130')).toBe('\u0130');
    expect(simpleCaseFold('I')).toBe('i');
    // Outside the BMP: Deseret.
    expect(simpleCaseFold('\u{10400}x')).toBe('\u{10428}x');
    // Cherokee folds to upper case.
    expect(simpleCaseFold('\uab70')).toBe('\u13a0');
  });

  it('folds ASCII as the table does', () => {
    let ascii = '';
    for (let cp = 0; cp < 0x80; cp++) ascii += String.fromCodePoint(cp);
    const perCodePoint = [...ascii].map((ch) => simpleCaseFold(`${ch}\u00e9`).slice(0, -1)).join('');
    expect(simpleCaseFold(ascii)).toBe(perCodePoint);
    expect(simpleCaseFold('ABC-xyz_09 ')).toBe('abc-xyz_09 ');
  });

  it('leaves text without cased letters as it is, lone surrogates included', () => {
    for (const v of ['', '123-456', 'already-lower', '😀', '\ud800x', 'x\udc00']) expect(simpleCaseFold(v)).toBe(v);
    expect(simpleCaseFold('A\ud800B')).toBe('a\ud800b');
  });

  it('is idempotent', () => {
    for (const [first, count, step, delta] of CASE_FOLDING_RUNS) {
      for (let i = 0; i < count; i++) {
        const folded = simpleCaseFold(String.fromCodePoint(first + i * step + delta));
        expect(simpleCaseFold(folded)).toBe(folded);
      }
    }
  });

  it('is the frozen Unicode 15.0 table, and each pair is case-equivalent for the runtime too', () => {
    expect(CASE_FOLDING_UNICODE_VERSION).toBe('15.0.0');
    let size = 0;
    for (const [first, count, step, delta] of CASE_FOLDING_RUNS) {
      for (let i = 0; i < count; i++) {
        const cp = first + i * step;
        const from = String.fromCodePoint(cp);
        const to = String.fromCodePoint(cp + delta);
        expect(simpleCaseFold(from)).toBe(to);
        // The ECMAScript /iu canonicalization is simple case folding too.
        expect(new RegExp(`^\\u{${cp.toString(16)}}$`, 'iu').test(to)).toBe(true);
        size++;
      }
    }
    expect(size).toBe(CASE_FOLDING_SIZE);
    expect(size).toBe(1454);
  });

  it('agrees with lower-casing wherever lower-casing maps one code point to one, except for newer letters', () => {
    const known = new Set<number>();
    for (const [first, count, step, delta] of CASE_FOLDING_RUNS) {
      for (let i = 0; i < count; i++) known.add(first + i * step).add(first + i * step + delta);
    }
    const differs: number[] = [];
    for (let cp = 0; cp < 0x20000; cp++) {
      if (cp >= 0xd800 && cp < 0xe000) continue;
      const ch = String.fromCodePoint(cp);
      const lower = ch.toLowerCase();
      if ([...lower].length !== 1 || lower === ch) continue;
      if (simpleCaseFold(ch) !== simpleCaseFold(lower)) differs.push(cp);
    }
    // The runtime's Unicode may be newer than the frozen table: it may disagree only on case pairs
    // the table does not know at all (letters added after Unicode 15.0, such as U+1C89).
    for (const cp of differs) {
      expect(known.has(cp)).toBe(false);
      expect(known.has(String.fromCodePoint(cp).toLowerCase().codePointAt(0)!)).toBe(false);
    }
    expect(differs.length).toBeLessThan(100);
  });
});

describe('trimTrailingSpaces and describeKeyComparison', () => {
  it('trims only U+0020 at the end', () => {
    expect(trimTrailingSpaces('a  ')).toBe('a');
    expect(trimTrailingSpaces('  a')).toBe('  a');
    expect(trimTrailingSpaces('a \u3000')).toBe('a \u3000');
  });

  it('describes a comparison in words', () => {
    expect(describeKeyComparison(CI_PAD)).toBe('case-insensitive, trailing spaces ignored');
    expect(describeKeyComparison(EXACT_KEY_COMPARISON)).toBe('case-sensitive, trailing spaces significant');
  });
});
