/**
 * Where a write happens (operator, stream, window), as every error of the data path that lands a
 * window names it: the Parquet encoder's, the object sink's and the window commit's.
 */

/** Where a write happens, for messages. */
export interface WriteContext {
  readonly operatorId?: string;
  readonly stream?: string;
  readonly windowId?: string;
}

/** Prefix such as `acme-casino/game_rounds window w-0003: ` for messages. */
export function describeContext(context: WriteContext | undefined): string {
  if (!context) return '';
  const where = [context.operatorId, context.stream].filter((part) => part !== undefined).join('/');
  const window = context.windowId ? `window ${context.windowId}` : '';
  const text = [where, window].filter((part) => part !== '').join(' ');
  return text === '' ? '' : `${text}: `;
}
