/**
 * Runs the wallet ledger audit of one publish (see wallet-ledger.ts): one statement over the
 * serving table for the players of the wallet windows the publish merged, the breaks stored for
 * on-call as a KMS-encrypted JSON object (`_integrity/wallet/<publish>.json`), and only their count
 * returned. Row values (player pseudonyms, transaction ids, balances) stay in that object: never in
 * the result, logs or metrics.
 */
import type { QueryEngine } from '../adapters/athena.ts';
import type { OperatorConfig } from '../config/schema.ts';
import type { WalletAuditInput, WalletAuditResult } from '../contracts/steps.ts';
import { walletAuditKey } from '../layout.ts';
import type { ObjectSink } from '../sink/sink.ts';
import {
  parseWalletAudit,
  ruleText,
  type WalletAuditReport,
  walletAuditStatement,
  walletLedgerSettings,
} from './wallet-ledger.ts';

export interface WalletAuditDeps {
  readonly config: OperatorConfig;
  /** The operator's Glue database. */
  readonly database: string;
  readonly engine: QueryEngine;
  /** The landing bucket (the report object is encrypted with the operator key). */
  readonly sink: Pick<ObjectSink, 'putObject' | 'location'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Audits the players of the given windows (see the module doc). */
export async function auditWalletLedger(deps: WalletAuditDeps, input: WalletAuditInput): Promise<WalletAuditResult> {
  const { config } = deps;
  const settings = walletLedgerSettings(config);
  if (!settings.enabled) {
    return {
      status: 'skipped',
      reason: `operator ${config.operatorId}: the wallet ledger audit is off (walletLedger.enabled, or wallet_transactions does not land player_id, type, amount, balance_after and created_at)`,
    };
  }
  const sources = input.sources.filter((s) => s.runIds.length > 0 && s.windowIds.length > 0);
  if (sources.length === 0) return { status: 'skipped', reason: 'no wallet window was published' };
  const outcome = await deps.engine.execute(
    walletAuditStatement({ config, database: deps.database, sources, maxExamples: settings.maxExamples }),
  );
  const findings = parseWalletAudit(outcome.rows);
  const windows = sources.reduce((n, s) => n + s.runIds.length * s.windowIds.length, 0);
  if (findings.breaks === 0) return { status: 'audited', breaks: 0, windows, scannedBytes: outcome.scannedBytes };
  const auditedAt = (deps.now ?? (() => new Date()))().toISOString();
  const report: WalletAuditReport = {
    operator: `${config.operatorId}-${config.stage}`,
    publish: input.publish,
    auditedAt,
    windows: sources,
    breaks: findings.breaks,
    examples: findings.examples,
    rule: ruleText(config),
  };
  // A publish may run several rounds, each with its audit: one object per audit.
  const key = walletAuditKey(`${input.publish}-${auditedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`);
  await deps.sink.putObject(key, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
  return {
    status: 'audited',
    breaks: findings.breaks,
    windows,
    scannedBytes: outcome.scannedBytes,
    report: deps.sink.location(key),
  };
}
