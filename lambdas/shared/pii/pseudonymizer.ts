/**
 * Pseudonymization of personal values: HMAC-SHA256 under the operator's key, as lower-case hex.
 *
 * Deterministic across runs and streams, so the same player id in players and in payments gets the
 * same pseudonym and joins still work; without the key the pseudonym cannot be reversed or
 * recomputed from a guessed id.
 */
import { createHmac } from 'node:crypto';

/** Turns a personal value into its pseudonym. */
export interface Pseudonymizer {
  pseudonymize(value: string): string;
}

export interface PseudonymizerOptions {
  /**
   * Pseudonyms remembered (ids repeat a lot: one player has thousands of rounds). Half of it is
   * the working set served without a miss: a window's distinct players up to that number cost
   * one HMAC each. About 150 bytes per entry.
   * @default 262144
   */
  readonly cacheSize?: number;
}

/** Length in bytes of the per-operator pseudonym key (a KMS AES_256 data key). */
export const PSEUDONYM_KEY_BYTES = 32;

/**
 * Creates a pseudonymizer with a bounded cache of recent values. The cache has two generations:
 * a value found in the older one is promoted; when the young generation is full the old one is
 * dropped, which keeps the memory bound without LRU bookkeeping on every hit.
 */
export function createPseudonymizer(key: Buffer, options: PseudonymizerOptions = {}): Pseudonymizer {
  if (key.length < PSEUDONYM_KEY_BYTES) {
    throw new RangeError(`a pseudonym key has ${PSEUDONYM_KEY_BYTES} bytes, got ${key.length}`);
  }
  // A private copy: the caller may zero its buffer, and nobody else can change ours.
  const secret = Buffer.from(key);
  const half = Math.max(1, Math.floor((options.cacheSize ?? 262_144) / 2));
  let young = new Map<string, string>();
  let old = new Map<string, string>();

  const hmac = (value: string): string => createHmac('sha256', secret).update(value, 'utf8').digest('hex');

  return {
    pseudonymize(value: string): string {
      let pseudonym = young.get(value);
      if (pseudonym !== undefined) return pseudonym;
      pseudonym = old.get(value) ?? hmac(value);
      if (young.size >= half) {
        old = young;
        young = new Map();
      }
      young.set(value, pseudonym);
      return pseudonym;
    },
  };
}

/**
 * The form of a value that is pseudonymized, so trivially different spellings of the same person
 * give the same pseudonym: e-mail addresses are trimmed and lower-cased; other values are hashed
 * as they are.
 */
export function normalizeForPseudonym(field: string, value: string): string {
  return field === 'email' ? value.trim().toLowerCase() : value;
}
