/**
 * A real DynamoDB engine for tests: dynalite, in memory, on a random loopback port (implemented in
 * local/engines.ts, shared with the demo).
 *
 * ```ts
 * const dynamo = await startDynalite();
 * const table = await dynamo.createSyncStateTable();
 * const store = new SyncStateStore(dynamo.doc, table);
 * ...
 * await dynamo.stop();
 * ```
 */
export { type DynaliteHandle, startDynalite } from '../../local/engines.ts';
