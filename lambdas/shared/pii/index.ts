/** Personal data minimization: pseudonyms under the operator's KMS-wrapped key. */
export {
  clearKeyFormCache,
  clearPseudonymKeyCache,
  ensureKeyForm,
  KEY_FORM_CASE_FOLDING,
  KeyFormChangedError,
  type LoadPseudonymKeyOptions,
  loadPseudonymKey,
  PseudonymKeyError,
  readPseudonymKey,
} from './key.ts';
export {
  describeKeyComparison,
  EXACT_KEY_COMPARISON,
  type KeyComparison,
  keyForm,
  sameKeyComparison,
  simpleCaseFold,
  trimTrailingSpaces,
} from './key-form.ts';
export {
  createPseudonymizer,
  normalizeForPseudonym,
  PSEUDONYM_KEY_BYTES,
  type Pseudonymizer,
  type PseudonymizerOptions,
  pseudonymInput,
} from './pseudonymizer.ts';
