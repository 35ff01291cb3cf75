/** Personal data minimization: pseudonyms under the operator's KMS-wrapped key. */
export { clearPseudonymKeyCache, type LoadPseudonymKeyOptions, loadPseudonymKey, PseudonymKeyError } from './key.ts';
export {
  createPseudonymizer,
  normalizeForPseudonym,
  PSEUDONYM_KEY_BYTES,
  type Pseudonymizer,
  type PseudonymizerOptions,
} from './pseudonymizer.ts';
