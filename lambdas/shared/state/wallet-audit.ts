/** The last wallet ledger audit (`INTEGRITY` / `WALLET_LEDGER`): counts and the report's location only. */
import { keys } from './keys.ts';
import type { StateTable } from './table.ts';

/** The last wallet ledger audit, as `connector status` shows it. */
export interface WalletAuditRecord {
  readonly auditedAt: Date;
  /** Breaks found among the audited players. */
  readonly breaks: number;
  /** Committed windows whose players were audited. */
  readonly windows: number;
  /** The publish execution that ran it. */
  readonly publish: string;
  /** `s3://…` of the report with the examples, when there were breaks. */
  readonly report?: string;
}

/** The wallet ledger audit item. */
export class WalletAuditStore {
  constructor(private readonly table: StateTable) {}

  /**
   * Records the last wallet ledger audit (counts and the report's location only; the breaks are in
   * the report), unless a later one is recorded.
   */
  async record(audit: Omit<WalletAuditRecord, 'auditedAt'> & { readonly auditedAt?: Date }): Promise<void> {
    const at = (audit.auditedAt ?? this.table.now()).toISOString();
    await this.table.conditionally('recordWalletAudit', {
      TableName: this.table.tableName,
      Key: keys.walletAudit(),
      UpdateExpression:
        'SET auditedAt = :at, #breaks = :breaks, #windows = :windows, #publish = :publish, #report = :report',
      ConditionExpression: 'attribute_not_exists(auditedAt) OR auditedAt <= :at',
      ExpressionAttributeNames: {
        '#breaks': 'breaks',
        '#windows': 'windows',
        '#publish': 'publish',
        '#report': 'report',
      },
      ExpressionAttributeValues: {
        ':at': at,
        ':breaks': audit.breaks,
        ':windows': audit.windows,
        ':publish': audit.publish,
        ':report': audit.report ?? null,
      },
    });
  }

  /** The last wallet ledger audit, or undefined before the first. */
  async get(): Promise<WalletAuditRecord | undefined> {
    const item = await this.table.get('getWalletAudit', keys.walletAudit());
    if (!item) return undefined;
    return {
      auditedAt: new Date(String(item.auditedAt)),
      breaks: Number(item.breaks),
      windows: Number(item.windows),
      publish: String(item.publish),
      ...(typeof item.report === 'string' ? { report: item.report } : {}),
    };
  }
}
