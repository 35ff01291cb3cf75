/** The alarms of the wallet ledger audit run after each publish: breaks found, and audits that could not run. */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { WALLET_LEDGER_METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, ANY_IN_ONE_PERIOD } from './alarm-factory.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** The two alarms of the wallet ledger audit (enabled, with a wallet_transactions stream). */
export function walletLedgerAlarms(alarms: AlarmFactory): void {
  const { name } = alarms;
  const operator = name.replace(/-(sandbox|production)$/, '');
  alarms.add(
    'WalletLedgerBreaks',
    'critical',
    'stream wallet_transactions',
    RUNBOOK_ANCHORS.walletLedgerBreaks,
    'wallet ledger breaks',
    "The wallet ledger audit found entries whose balance_after does not follow from the player's previous entry and the entry's amount: a ledger entry is missing, duplicated or mapped to the wrong type (a wallet discrepancy, at the operator or in the lake).",
    [
      `connector status ${operator} (the last audit's breaks and the report object)`,
      `aws s3 cp s3://<landing bucket>/_integrity/wallet/<publish>-<time>.json - (the examples: player pseudonym, transaction ids, expected and actual balance)`,
    ],
    alarms.metrics.metric(WALLET_LEDGER_METRICS.walletLedgerBreaks, 'Maximum', alarms.period),
    {
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
  );
  alarms.add(
    'WalletLedgerAuditFailed',
    'warning',
    'stream wallet_transactions',
    RUNBOOK_ANCHORS.walletLedgerAuditFailed,
    'wallet ledger audit failed',
    "The wallet ledger audit after a publish could not run (its Athena statement failed or timed out): the players of that publish's wallet entries went unchecked.",
    [
      `aws stepfunctions list-executions --state-machine-arn <${name}-publish> --max-items 5 (the "Audit wallet ledger" step)`,
      'the publish function log (the audit error) and the failed query in the workgroup history',
    ],
    alarms.metrics.metric(WALLET_LEDGER_METRICS.walletLedgerAuditFailures, 'Sum', alarms.period),
    ANY_IN_ONE_PERIOD,
  );
}
