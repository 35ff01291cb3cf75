/** The pseudonym of a player id, computed exactly as landing computes it for `player_id`. */
import type { KeyComparison } from '../pii/key-form.ts';
import { createPseudonymizer, normalizeForPseudonym } from '../pii/pseudonymizer.ts';

/**
 * The pseudonym `player_id` holds in every stream for this source id: the HMAC-SHA256, under the
 * operator's pseudonym key, of the id's key form (`source.keyComparison`: letter case and trailing
 * spaces removed where the source ignores them).
 */
export function playerPseudonym(key: Buffer, id: string, comparison: KeyComparison): string {
  return createPseudonymizer(key, { cacheSize: 2 }).pseudonymize(
    normalizeForPseudonym('players', 'player_id', id, comparison),
  );
}
