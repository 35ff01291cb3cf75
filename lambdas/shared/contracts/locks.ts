/**
 * Lock lifetimes the functions use and the state machines' messages quote. Dependency-free: the
 * CDK app loads it at synthesis.
 */

/**
 * Lifetime of the incremental run lock. incremental-sync renews it on every invocation, so it only
 * expires when a run died without releasing it; longer than one Lambda invocation (15 minutes).
 */
export const INCREMENTAL_LOCK_TTL_SECONDS = 20 * 60;

/** Lifetime of the publish lock; a crashed publish's lock expires after it. */
export const PUBLISH_LOCK_TTL_SECONDS = 2 * 3600;
