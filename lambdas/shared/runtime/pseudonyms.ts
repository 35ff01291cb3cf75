/**
 * The operator's pseudonymizer for the functions that land rows (extraction, key audit, file
 * ingestion). Apart from runtime.ts, so functions that land nothing do not load the PII code.
 */
import { ensureKeyForm, loadPseudonymKey } from '../pii/key.ts';
import { createPseudonymizer, type Pseudonymizer } from '../pii/pseudonymizer.ts';
import type { Runtime } from './runtime.ts';

let cached: { key: Buffer; value: Pseudonymizer } | undefined;

/**
 * The pseudonym key (a KMS data key, unwrapped once per execution environment) and its
 * pseudonymizer. Every call also checks that the key form the config sets is the one recorded for
 * the operator (`KeyFormChangedError` otherwise), before anything is hashed.
 */
export async function operatorPseudonymizer(rt: Runtime): Promise<{ key: Buffer; pseudonymizer: Pseudonymizer }> {
  const key = await loadPseudonymKey({ keys: rt.adapters.keys, store: rt.store, keyId: rt.env.kmsKeyArn });
  await ensureKeyForm({
    store: rt.store,
    operatorId: rt.config.operatorId,
    comparison: rt.config.source.keyComparison,
  });
  if (cached?.key !== key) cached = { key, value: createPseudonymizer(key) };
  return { key, pseudonymizer: cached.value };
}
