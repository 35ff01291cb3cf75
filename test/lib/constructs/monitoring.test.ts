import { readFileSync } from 'node:fs';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  fileDropFreshnessShape,
  fileDropSlaMinutes,
  freshnessShape,
  Monitoring,
  type MonitoringProps,
  RUNBOOK_ANCHORS,
  scheduleIntervalMinutes,
} from '../../../lib/constructs/monitoring/index.ts';
import { OperatorConnectorStack, operatorStackName } from '../../../lib/stacks/operator-connector-stack.ts';
import { alarmsOf, evaluate, expressionOf, type Json, metricsOfAlarm } from '../../monitoring/alarm-metrics.ts';
import { exampleConfig, type SynthesizedStack, synthesize, testApp } from '../helpers.ts';

const OP = 'acme-casino-sandbox';
const CONNECTOR_DIMENSIONS = (stream: string) => ({ service: 'connector', Operator: OP, Stream: stream });

/** GitHub-style anchors of the runbook's headings. */
function runbookAnchors(): Set<string> {
  const text = readFileSync('docs/runbook.md', 'utf8');
  return new Set(
    [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('Monitoring', () => {
  let acme: SynthesizedStack;
  let alarms: Record<string, Json>;
  let composites: Record<string, Json>;
  const ref = (s: SynthesizedStack, token: unknown) => s.stack.resolve(token);
  const byName = (suffix: string): Json => {
    const found = Object.values(alarms).filter((a) => a.Properties.AlarmName === `${OP} ${suffix}`);
    expect(found, suffix).toHaveLength(1);
    return found[0].Properties;
  };
  const composite = (name: string): Json => {
    const found = Object.values(composites).filter((a) => a.Properties.AlarmName === name);
    expect(found, name).toHaveLength(1);
    return found[0].Properties;
  };

  beforeAll(() => {
    acme = synthesize(exampleConfig('acme-casino'));
    alarms = alarmsOf(acme.template);
    composites = acme.template.findResources('AWS::CloudWatch::CompositeAlarm');
  });

  it('notifies the non-paging topic from every individual alarm and links an existing runbook section', () => {
    const notify = ref(acme, acme.stack.monitoring.notificationTopic.topicArn);
    const page = ref(acme, acme.stack.alarmTopic.topic.topicArn);
    const anchors = runbookAnchors();
    const individual = acme.stack.monitoring.alarms;
    // 2 state machines + 7 streams × (sync delayed, NULL-cursor rows, schema drift, lookback too
    // short) + stalled + reconciliation + 5 functions × 2 + schedule DLQ + the landing sweep (its
    // schedule's DLQ, its function × 2) + publishing (state machine, backlog age, its function × 2)
    // + the key audit (state machine, 3 audited streams × (failed, lost rows), its function × 2, schedule DLQ)
    // + the wallet ledger audit (breaks, failures) + 3 money streams × money totals differ
    expect(individual).toHaveLength(2 + 7 * 4 + 1 + 1 + 10 + 1 + 3 + 4 + (1 + 3 * 2 + 2 + 1) + 2 + 3);
    for (const { alarm, component, anchor } of individual) {
      const props = alarm.node.defaultChild as Json;
      const description = acme.stack.resolve(props.alarmDescription) as string;
      expect(description).toContain(`[${OP}] ${component}:`);
      expect(description).toMatch(/First check: \(1\) .+; \(2\) .+\. Runbook: docs\/runbook\.md#[a-z-]+$/);
      expect(description).toContain(`docs/runbook.md#${anchor}`);
      expect(anchors, `runbook section #${anchor}`).toContain(anchor);
      expect(description.length).toBeLessThanOrEqual(1024);
      expect(acme.stack.resolve(props.alarmActions)).toEqual([notify]);
      expect(acme.stack.resolve(props.okActions)).toEqual([notify]);
      expect(JSON.stringify(acme.stack.resolve(props.alarmActions))).not.toContain(JSON.stringify(page));
    }
    expect(anchors).toContain(RUNBOOK_ANCHORS.unhealthy);
    expect(anchors).toContain('replay-a-window');
  });

  it('links the runbook published at alerts.runbookUrl, so the link works outside the repository', () => {
    const base = 'https://git.example.com/data/igaming-connector/blob/main/docs/runbook.md';
    const config = exampleConfig('acme-casino');
    const published = synthesize({ ...config, alerts: { ...config.alerts, runbookUrl: base } });
    const descriptions = [
      ...Object.values(alarmsOf(published.template)),
      ...Object.values(published.template.findResources('AWS::CloudWatch::CompositeAlarm')),
    ].map((r) => String((r as Json).Properties.AlarmDescription));
    expect(descriptions.length).toBeGreaterThan(10);
    for (const d of descriptions.filter((x) => x.includes('Runbook:'))) {
      expect(d).toMatch(new RegExp(`Runbook: ${base.replaceAll('.', '\\.')}#[a-z-]+$`));
      expect(d).not.toContain('Runbook: docs/runbook.md');
    }
    expect(descriptions.some((d) => d.endsWith(`${base}#operator-unhealthy`))).toBe(true);
  });

  it.each([
    ['snapshot', 'critical snapshot failed'],
    ['incremental', 'critical incremental failed'],
  ] as const)('%s failed: ExecutionsFailed + TimedOut + Aborted ≥ 1 in one 5-minute period', (which, name) => {
    const p = byName(name);
    const machine =
      which === 'snapshot'
        ? acme.stack.pipeline!.snapshotStateMachine.stateMachineArn
        : acme.stack.pipeline!.incrementalStateMachine.stateMachineArn;
    expect(expressionOf(p)).toBe('FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)');
    const metrics = metricsOfAlarm(p);
    expect(metrics.map((m) => [m.id, m.name])).toEqual([
      ['failed', 'ExecutionsFailed'],
      ['timedOut', 'ExecutionsTimedOut'],
      ['aborted', 'ExecutionsAborted'],
    ]);
    for (const m of metrics) {
      expect(m).toMatchObject({ namespace: 'AWS/States', stat: 'Sum', period: 300 });
      expect(m.dimensions).toEqual({ StateMachineArn: ref(acme, machine) });
    }
    expect(p).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('sync delayed: FreshnessLagSeconds of each stream above its SLA in 2 of 3 periods, missing data breaching', () => {
    const config = acme.stack.config;
    const streams = Object.keys(config.streams);
    expect(streams).toHaveLength(7);
    for (const stream of streams) {
      const p = byName(`critical ${stream} sync delayed`);
      const sla = config.streams[stream as keyof typeof config.streams]?.freshnessSlaMinutes ?? 60;
      // rate(15 minutes): period = max(15, SLA / 2) minutes.
      const period = Math.max(15, sla / 2) * 60;
      expect(metricsOfAlarm(p)).toEqual([
        {
          namespace: 'IGamingConnector',
          name: 'FreshnessLagSeconds',
          dimensions: CONNECTOR_DIMENSIONS(stream),
          stat: 'Maximum',
          period,
        },
      ]);
      expect(p).toMatchObject({
        Threshold: sla * 60,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'breaching',
      });
    }
    // payments has its own SLA of 30 minutes, players 120, the rest the default 60.
    expect(byName('critical payments sync delayed')).toMatchObject({ Threshold: 1800 });
    expect(byName('critical players sync delayed')).toMatchObject({ Threshold: 7200 });
  });

  it('sync delayed alarms when the schedule stops: no FreshnessLagSeconds datapoints at all means ALARM', () => {
    const p = byName('critical payments sync delayed');
    // A stopped schedule (or runs that never complete) emits no FreshnessLagSeconds: the last three
    // periods have no datapoint. TreatMissingData = breaching turns each into a breaching datapoint,
    // and 3 ≥ DatapointsToAlarm (2), so the alarm goes to ALARM after two silent periods.
    expect(p.TreatMissingData).toBe('breaching');
    expect(evaluate(p, [undefined, undefined, undefined])).toBe('ALARM');
    // Two silent periods after a good run are enough; one silent period (a late run) is not.
    expect(evaluate(p, [120, undefined, undefined])).toBe('ALARM');
    expect(evaluate(p, [120, undefined, 90])).toBe('OK');
    // Runs that report within the SLA keep it OK; a lag above the SLA in 2 of 3 periods alarms.
    expect(evaluate(p, [60, 75, 90])).toBe('OK');
    expect(evaluate(p, [60, 1801, 2400])).toBe('ALARM');
  });

  it('schema drift: SchemaDriftColumns of each stream ≥ 1, kept until a check finds none, in the composite', () => {
    const config = acme.stack.config;
    const health = composite(`${OP} unhealthy`);
    const inRule = new Set(
      (health.AlarmRule['Fn::Join'][1] as Json[])
        .filter((part) => typeof part === 'object')
        .map((part) => part['Fn::GetAtt'][0] as string),
    );
    for (const stream of Object.keys(config.streams)) {
      const p = byName(`warning ${stream} schema drift`);
      expect(metricsOfAlarm(p)).toEqual([
        {
          namespace: 'IGamingConnector',
          name: 'SchemaDriftColumns',
          dimensions: CONNECTOR_DIMENSIONS(stream),
          stat: 'Maximum',
          period: 300,
        },
      ]);
      expect(p).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'ignore',
      });
      expect(p.AlarmDescription).toContain('docs/runbook.md#schema-drift');
      expect(p.AlarmDescription).toContain('SchemaDriftError');
      const id = Object.entries(alarms).find(
        ([, a]) => a.Properties.AlarmName === `${OP} warning ${stream} schema drift`,
      )![0];
      expect(inRule, `${stream} schema drift in the composite`).toContain(id);
    }
    const p = byName('warning players schema drift');
    // A check reports 2 drifted columns: ALARM; quiet periods keep it; a check that finds none clears it.
    expect(evaluate(p, [2], 'OK')).toBe('ALARM');
    expect(evaluate(p, [undefined], 'ALARM')).toBe('ALARM');
    expect(evaluate(p, [0], 'ALARM')).toBe('OK');
  });

  it('NULL-cursor rows: NullCursorRows of each stream ≥ 1, kept until a run counts none', () => {
    const config = acme.stack.config;
    for (const stream of Object.keys(config.streams)) {
      const p = byName(`warning ${stream} rows with a NULL cursor`);
      expect(metricsOfAlarm(p)).toEqual([
        {
          namespace: 'IGamingConnector',
          name: 'NullCursorRows',
          dimensions: CONNECTOR_DIMENSIONS(stream),
          stat: 'Maximum',
          period: 300,
        },
      ]);
      expect(p).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'ignore',
      });
    }
    const p = byName('warning players rows with a NULL cursor');
    // The DBA's query names the operator's own table and cursor column.
    expect(p.AlarmDescription).toContain('SELECT count(*) FROM casino.customers WHERE modified_ts IS NULL');
    expect(p.AlarmDescription).toContain('docs/runbook.md#null-cursor-rows');
    // A run counts 3: ALARM; the quiet periods between runs keep it; a run that counts 0 clears it.
    expect(evaluate(p, [3], 'OK')).toBe('ALARM');
    expect(evaluate(p, [undefined], 'ALARM')).toBe('ALARM');
    expect(evaluate(p, [0], 'ALARM')).toBe('OK');
    expect(evaluate(p, [undefined], 'OK')).toBe('OK');
    expect(acme.stack.monitoring.alarmsOf('warning').filter((a) => a.anchor === 'null-cursor-rows')).toHaveLength(7);
  });

  it('money totals differ: MoneyTotalsMismatches of each money stream at 1 or more, held until a window agrees, in the composite', () => {
    const config = acme.stack.config;
    const health = JSON.stringify(composite(`${OP} unhealthy`).AlarmRule);
    const money = ['payments', 'game_rounds', 'wallet_transactions'].filter((s) => s in config.streams);
    expect(money.length).toBeGreaterThan(1);
    for (const stream of money) {
      const p = byName(`critical ${stream} money totals differ from the source`);
      expect(metricsOfAlarm(p)).toEqual([
        {
          namespace: 'IGamingConnector',
          name: 'MoneyTotalsMismatches',
          dimensions: CONNECTOR_DIMENSIONS(stream),
          stat: 'Maximum',
          period: 300,
        },
      ]);
      expect(p).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'ignore',
      });
      expect(p.AlarmDescription).toContain('docs/runbook.md#money-totals-differ');
      const id = Object.entries(alarms).find(([, a]) => a.Properties.AlarmName === p.AlarmName)![0];
      expect(health).toContain(`"${id}"`);
    }
    // Streams without money totals have no such alarm.
    expect(acme.stack.monitoring.alarmsOf('critical').filter((a) => a.anchor === 'money-totals-differ')).toHaveLength(
      money.length,
    );
    const p = byName('critical payments money totals differ from the source');
    // A window with two differing totals: ALARM, kept while no window reports, cleared by one that agrees.
    expect(evaluate(p, [2], 'OK')).toBe('ALARM');
    expect(evaluate(p, [undefined], 'ALARM')).toBe('ALARM');
    expect(evaluate(p, [0], 'ALARM')).toBe('OK');
  });

  it('lookback too short: MaxLatenessSeconds of each stream above the configured share of the lookback, in the composite', () => {
    const config = acme.stack.config;
    const threshold = 0.5 * config.incremental.lookbackMinutes * 60;
    expect(threshold).toBe(1800);
    const health = JSON.stringify(composite(`${OP} unhealthy`).AlarmRule);
    for (const stream of Object.keys(config.streams)) {
      const p = byName(`warning ${stream} late arrivals near the lookback`);
      expect(metricsOfAlarm(p)).toEqual([
        {
          namespace: 'IGamingConnector',
          name: 'MaxLatenessSeconds',
          dimensions: CONNECTOR_DIMENSIONS(stream),
          stat: 'Maximum',
          period: 300,
        },
      ]);
      expect(p).toMatchObject({
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'ignore',
      });
      expect(p.AlarmDescription).toContain('docs/runbook.md#lookback-too-short');
      const id = Object.entries(alarms).find(([, a]) => a.Properties.AlarmName === p.AlarmName)![0];
      expect(health).toContain(`"${id}"`);
    }
    const p = byName('warning payments late arrivals near the lookback');
    // A run finds a row 31 minutes late: ALARM, kept between runs, cleared by a run within the share.
    expect(evaluate(p, [31 * 60], 'OK')).toBe('ALARM');
    expect(evaluate(p, [undefined], 'ALARM')).toBe('ALARM');
    expect(evaluate(p, [1800], 'ALARM')).toBe('OK');
    expect(acme.stack.monitoring.alarmsOf('warning').filter((a) => a.anchor === 'lookback-too-short')).toHaveLength(7);

    const quarter = synthesize(exampleConfig('acme-casino', [[['incremental', 'latenessAlarmShare'], 0.25]]));
    const q = Object.values(alarmsOf(quarter.template)).find(
      (a) => a.Properties.AlarmName === `${OP} warning payments late arrivals near the lookback`,
    );
    expect(q?.Properties.Threshold).toBe(900);
  });

  it('snapshot stalled: extract-window invoked AND no window completed during the stall time', () => {
    const stalled = composite(`${OP} critical snapshot stalled`);
    const noWindow = byName('no snapshot window completed in 120 minutes');
    const running = byName('snapshot running (extract-window invoked in 120 minutes)');
    const idOf = (name: string) =>
      Object.entries(alarms).find(([, a]) => a.Properties.AlarmName === `${OP} ${name}`)![0];
    expect(stalled.AlarmRule).toEqual({
      'Fn::Join': [
        '',
        [
          '(ALARM("',
          { 'Fn::GetAtt': [idOf('no snapshot window completed in 120 minutes'), 'Arn'] },
          '") AND ALARM("',
          { 'Fn::GetAtt': [idOf('snapshot running (extract-window invoked in 120 minutes)'), 'Arn'] },
          '"))',
        ],
      ],
    });
    const notify = ref(acme, acme.stack.monitoring.notificationTopic.topicArn);
    expect(stalled.AlarmActions).toEqual([notify]);
    expect(stalled.AlarmDescription).toContain('docs/runbook.md#snapshot-stalled');

    const streams = Object.keys(acme.stack.config.streams);
    const windows = metricsOfAlarm(noWindow);
    expect(windows.map((m) => m.dimensions)).toEqual(streams.map(CONNECTOR_DIMENSIONS));
    for (const m of windows) {
      expect(m).toMatchObject({ namespace: 'IGamingConnector', name: 'WindowsCompleted', stat: 'Sum', period: 7200 });
    }
    expect(expressionOf(noWindow)).toBe(streams.map((_, i) => `FILL(windowsCompleted${i}, 0)`).join(' + '));
    expect(noWindow).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'breaching',
    });
    expect(metricsOfAlarm(running)).toEqual([
      {
        namespace: 'AWS/Lambda',
        name: 'Invocations',
        dimensions: { FunctionName: ref(acme, acme.stack.extractors!.extractWindow.function.functionName) },
        stat: 'Sum',
        period: 7200,
      },
    ]);
    expect(running).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    // Building blocks: a normal state on their own, so no actions.
    for (const block of [noWindow, running]) {
      expect(block.AlarmActions).toBeUndefined();
      expect(block.OKActions).toBeUndefined();
    }
  });

  it('reconciliation mismatch: the sum over streams of ReconciliationMismatch ≥ 1', () => {
    const p = byName('critical reconciliation mismatch');
    const streams = Object.keys(acme.stack.config.streams);
    const metrics = metricsOfAlarm(p);
    expect(metrics.map((m) => m.dimensions)).toEqual(streams.map(CONNECTOR_DIMENSIONS));
    for (const m of metrics) {
      expect(m).toMatchObject({
        namespace: 'IGamingConnector',
        name: 'ReconciliationMismatch',
        stat: 'Sum',
        period: 300,
      });
    }
    expect(expressionOf(p)).toBe(streams.map((_, i) => `FILL(reconciliationMismatch${i}, 0)`).join(' + '));
    expect(p).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('function errors and throttles: each pipeline function, ≥ 1 in 2 of 3 five-minute periods', () => {
    const pipeline = acme.stack.pipeline!;
    const extractors = acme.stack.extractors!;
    const functions = {
      'plan-snapshot': pipeline.planSnapshot,
      'extract-window': extractors.extractWindow,
      'finalize-snapshot': pipeline.finalizeSnapshot,
      'run-lock': pipeline.runLock,
      'incremental-sync': extractors.incrementalSync,
    };
    for (const [handler, fn] of Object.entries(functions)) {
      for (const [kind, metric] of [
        ['errors', 'Errors'],
        ['throttles', 'Throttles'],
      ] as const) {
        const p = byName(`warning ${handler} ${kind}`);
        expect(metricsOfAlarm(p)).toEqual([
          {
            namespace: 'AWS/Lambda',
            name: metric,
            dimensions: { FunctionName: ref(acme, fn.function.functionName) },
            stat: 'Sum',
            period: 300,
          },
        ]);
        expect(p).toMatchObject({
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 3,
          DatapointsToAlarm: 2,
          TreatMissingData: 'notBreaching',
        });
      }
    }
  });

  it('schedule dead letters: the schedule DLQ holds ≥ 1 visible message', () => {
    const p = byName('critical schedule dead letters');
    expect(metricsOfAlarm(p)).toEqual([
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: ref(acme, acme.stack.pipeline!.scheduleDeadLetterQueue.queueName) },
        stat: 'Maximum',
        period: 300,
      },
    ]);
    expect(p).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('wallet ledger: any break in a period alarms (critical), and so does an audit that could not run (warning), both in the composite', () => {
    const breaks = byName('critical wallet ledger breaks');
    expect(breaks).toMatchObject({
      Namespace: 'IGamingConnector',
      MetricName: 'WalletLedgerBreaks',
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(breaks.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'Operator', Value: OP },
        { Name: 'service', Value: 'connector' },
      ]),
    );
    expect(breaks.AlarmDescription).toContain('docs/runbook.md#wallet-ledger-breaks');
    const failed = byName('warning wallet ledger audit failed');
    expect(failed).toMatchObject({ MetricName: 'WalletLedgerAuditFailures', Threshold: 1 });
    expect(failed.AlarmDescription).toContain('docs/runbook.md#wallet-ledger-audit-failed');
    const health = composite(`${OP} unhealthy`);
    const referenced = JSON.stringify(health.AlarmRule);
    for (const id of Object.keys(alarms).filter((k) => /WalletLedger/.test(k))) expect(referenced).toContain(id);
    expect(Object.keys(alarms).filter((k) => /WalletLedger/.test(k))).toHaveLength(2);
  });

  it('has no wallet ledger alarms when the audit is off', () => {
    const off = synthesize(exampleConfig('acme-casino', [[['walletLedger', 'enabled'], false]]));
    const names = Object.values(alarmsOf(off.template)).map((a) => (a as Json).Properties.AlarmName as string);
    expect(names.filter((n) => n.includes('wallet ledger'))).toEqual([]);
  });

  it('one composite "<op>-<stage> unhealthy" ORs every alarm and is the only one that pages', () => {
    const health = composite(`${OP} unhealthy`);
    const page = ref(acme, acme.stack.alarmTopic.topic.topicArn);
    expect(health.AlarmActions).toEqual([page]);
    expect(health.OKActions).toEqual([page]);
    expect(health.AlarmDescription).toContain('docs/runbook.md#operator-unhealthy');
    const referenced = (health.AlarmRule['Fn::Join'][1] as Json[])
      .filter((part) => typeof part === 'object')
      .map((part) => part['Fn::GetAtt'][0] as string);
    const expected = acme.stack.monitoring.alarms.map(
      (a) => (ref(acme, (a.alarm as Json).alarmArn) as Json)['Fn::GetAtt'][0],
    );
    expect(referenced).toEqual(expected);
    const strings = (health.AlarmRule['Fn::Join'][1] as Json[]).filter((part) => typeof part === 'string');
    expect(strings.slice(1, -1).every((s) => s === '") OR ALARM("')).toBe(true);
    // Every alarm of the stack is in the rule, except the two building blocks of "snapshot stalled".
    const blocks = Object.keys(alarms).filter((id) => /NoWindowCompleted|SnapshotRunning/.test(id));
    expect(blocks).toHaveLength(2);
    const stalledId = Object.entries(composites).find(([, c]) =>
      c.Properties.AlarmName.endsWith('snapshot stalled'),
    )![0];
    expect(new Set(referenced)).toEqual(
      new Set([...Object.keys(alarms).filter((id) => !blocks.includes(id)), stalledId]),
    );
    // Nothing else notifies the paging topic.
    const paging = [...Object.values(alarms), ...Object.values(composites)].filter((a) =>
      JSON.stringify(a.Properties.AlarmActions ?? []).includes(JSON.stringify(page)),
    );
    expect(paging).toHaveLength(1);
  });

  it('CloudWatch may use the operator key and publish to both topics', () => {
    const key = ref(acme, acme.stack.landingZone.key.keyArn) as Json;
    const keyId = key['Fn::GetAtt'][0] as string;
    const keyPolicy = acme.template.toJSON().Resources[keyId].Properties.KeyPolicy.Statement as Json[];
    const cloudwatch = keyPolicy.filter((s) => s.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(cloudwatch).toHaveLength(1);
    expect(cloudwatch[0]).toMatchObject({ Effect: 'Allow', Resource: '*' });
    expect(cloudwatch[0].Action).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']));

    for (const topic of [acme.stack.alarmTopic.topic, acme.stack.monitoring.notificationTopic]) {
      const topicRef = ref(acme, topic.topicArn);
      acme.template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: ref(acme, acme.stack.landingZone.key.keyArn),
        DisplayName: Match.anyValue(),
      });
      const policies = Object.values(acme.template.findResources('AWS::SNS::TopicPolicy')).filter((p: Json) =>
        JSON.stringify(p.Properties.Topics).includes(JSON.stringify(topicRef)),
      );
      expect(policies).toHaveLength(1);
      const statements = (policies[0] as Json).Properties.PolicyDocument.Statement as Json[];
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Allow',
            Action: 'sns:Publish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Resource: topicRef,
          }),
        ]),
      );
    }
    const notification = acme.stack.monitoring.notificationTopic.node.defaultChild as Json;
    expect(ref(acme, notification.kmsMasterKeyId)).toEqual(ref(acme, acme.stack.landingZone.key.keyArn));
  });

  it('leaves the notification topic without subscribers in the stack (alert e-mails get the page)', () => {
    const topic = JSON.stringify(ref(acme, acme.stack.monitoring.notificationTopic.topicArn));
    const subscriptions = Object.values(acme.template.findResources('AWS::SNS::Subscription')).filter(
      (s: Json) => JSON.stringify(s.Properties.TopicArn) === topic,
    );
    expect(subscriptions).toHaveLength(0);
  });

  it('builds a dashboard with freshness against each SLA, rows, failures, durations and snapshot progress', () => {
    const dashboards = Object.values(acme.template.findResources('AWS::CloudWatch::Dashboard')) as Json[];
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0].Properties.DashboardName).toBe(`${OP}-connector`);
    const body = (dashboards[0].Properties.DashboardBody['Fn::Join'][1] as Json[])
      .map((part) => (typeof part === 'string' ? part : 'TOKEN'))
      .join('');
    const parsed = JSON.parse(body) as { widgets: Json[] };
    const titles = parsed.widgets.map((w) => w.properties.title).filter(Boolean);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Alarms',
        'Rows landed per stream',
        'Failures',
        'Window and run duration (max, ms)',
        'Snapshot progress',
        'Rows with a NULL cursor (not landed)',
        'Schema drift (columns changed per check)',
        'Late arrivals: largest lateness per run (alarm above the line)',
      ]),
    );
    const late = parsed.widgets.find((w) => w.properties.title?.startsWith('Late arrivals'));
    expect(late.properties.annotations.horizontal).toEqual([
      expect.objectContaining({ value: 1800, label: '50% of the lookback' }),
    ]);
    for (const stream of Object.keys(acme.stack.config.streams)) {
      const widget = parsed.widgets.find((w) => w.properties.title === `Freshness lag: ${stream}`);
      expect(widget, stream).toBeDefined();
      const sla =
        (acme.stack.config.streams[stream as keyof typeof acme.stack.config.streams]?.freshnessSlaMinutes ?? 60) * 60;
      expect(widget.properties.annotations.horizontal).toEqual([
        expect.objectContaining({ value: sla, label: 'SLA (seconds)' }),
      ]);
      expect(widget.properties.metrics).toEqual([
        [
          'IGamingConnector',
          'FreshnessLagSeconds',
          'Operator',
          OP,
          'Stream',
          stream,
          'service',
          'connector',
          { label: `${stream} lag`, period: 900, stat: 'Maximum' },
        ],
      ]);
    }
  });

  it('monitors the file drop of a file-drop operator (no pipeline alarms)', () => {
    // Built without Template.fromStack: only the construct tree is inspected.
    const config = exampleConfig('lucky-files');
    const stack = new OperatorConnectorStack(testApp(), operatorStackName(config), { config });
    expect(stack.monitoring.alarms.map((a) => (a.alarm.node.defaultChild as Json).alarmName)).toEqual(
      [
        'critical file drop dead letters',
        'warning files quarantined',
        'warning ingest-file errors',
        'warning ingest-file throttles',
        'critical players no file landed',
        'critical payments no file landed',
        'critical wallet_transactions no file landed',
        'warning players schema drift',
        'warning payments schema drift',
        'warning wallet_transactions schema drift',
        'critical landing sweep not started',
        'warning sweep-landing errors',
        'warning sweep-landing throttles',
        'critical publish failed',
        'warning publish backlog',
        'critical publish schedule dead letters',
        'critical wallet ledger breaks',
        'warning wallet ledger audit failed',
        'warning publish errors',
        'warning publish throttles',
      ].map((s) => `lucky-files-sandbox ${s}`),
    );
    expect(stack.monitoring.healthAlarm).toBeDefined();
  });
});

describe('Monitoring with a file drop', () => {
  function standalone(extra: Partial<MonitoringProps> | ((stack: Stack) => Partial<MonitoringProps>) = {}) {
    const stack = new Stack(testApp(), 'Standalone', { env: { account: '333333333333', region: 'eu-west-1' } });
    const config = exampleConfig('lucky-files');
    const key = new kms.Key(stack, 'Key');
    const ingest = new lambda.Function(stack, 'Ingest', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({});'),
    });
    const deadLetterQueue = new sqs.Queue(stack, 'IngestDlq');
    const monitoring = new Monitoring(stack, 'Monitoring', {
      config,
      encryptionKey: key,
      alarmTopic: new sns.Topic(stack, 'Paging'),
      fileDrop: { ingest, deadLetterQueue },
      ...(typeof extra === 'function' ? extra(stack) : extra),
    });
    return { stack, config, monitoring, ingest, deadLetterQueue, template: Template.fromStack(stack) };
  }

  it('alarms on the file-drop DLQ, quarantined files (sum over streams), the ingest function and header drift', () => {
    const { stack, monitoring, ingest, deadLetterQueue, template } = standalone();
    const op = 'lucky-files-sandbox';
    const alarms = Object.values(alarmsOf(template)).map((a) => a.Properties);
    const named = (suffix: string) => alarms.find((a) => a.AlarmName === `${op} ${suffix}`);
    expect(alarms.map((a) => a.AlarmName).sort()).toEqual(
      [
        'critical file drop dead letters',
        'critical payments no file landed',
        'critical players no file landed',
        'critical wallet_transactions no file landed',
        'warning files quarantined',
        'warning ingest-file errors',
        'warning ingest-file throttles',
        'warning payments schema drift',
        'warning players schema drift',
        'warning wallet_transactions schema drift',
      ].map((s) => `${op} ${s}`),
    );
    expect(named('warning players schema drift')?.AlarmDescription).toContain(
      'the header of players files (against the last landed file)',
    );
    const dlq = named('critical file drop dead letters');
    expect(metricsOfAlarm(dlq)).toEqual([
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: stack.resolve(deadLetterQueue.queueName) },
        stat: 'Maximum',
        period: 300,
      },
    ]);
    expect(dlq).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
    });
    expect(dlq.AlarmDescription).toContain('docs/runbook.md#file-drop-dead-letters');

    const quarantined = named('warning files quarantined');
    // Emitted once per ingest invocation with the operator dimensions only (zeros included).
    expect(metricsOfAlarm(quarantined)).toEqual([
      {
        namespace: 'IGamingConnector',
        name: 'FilesQuarantined',
        dimensions: { service: 'connector', Operator: op },
        stat: 'Sum',
        period: 300,
      },
    ]);
    expect(quarantined).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(metricsOfAlarm(named('warning ingest-file errors'))[0]?.dimensions).toEqual({
      FunctionName: stack.resolve(ingest.functionName),
    });
    expect(monitoring.healthAlarm).toBeDefined();
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', { AlarmName: `${op} unhealthy` });
    expect(monitoring.alarmsOf('critical').map((a) => a.anchor)).toEqual([
      'file-drop-dead-letters',
      'file-drop-stale',
      'file-drop-stale',
      'file-drop-stale',
    ]);
  });

  it('file-drop freshness: no landed file of a stream for its SLA (default 26 h) alarms, missing data breaching, in the composite', () => {
    const { monitoring, template } = standalone();
    const op = 'lucky-files-sandbox';
    const alarms = alarmsOf(template);
    const health = JSON.stringify(
      Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0]!.Properties.AlarmRule,
    );
    for (const stream of ['players', 'payments', 'wallet_transactions']) {
      const [id, alarm] = Object.entries(alarms).find(
        ([, a]) => a.Properties.AlarmName === `${op} critical ${stream} no file landed`,
      )!;
      const p = alarm.Properties;
      // One RowsIngested datapoint per landed file: the sample count is the files landed per hour.
      expect(metricsOfAlarm(p)).toEqual([
        {
          namespace: 'IGamingConnector',
          name: 'RowsIngested',
          dimensions: { service: 'connector', Operator: op, Stream: stream },
          stat: 'SampleCount',
          period: 3600,
        },
      ]);
      expect(p).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        EvaluationPeriods: 26,
        DatapointsToAlarm: 26,
        TreatMissingData: 'breaching',
      });
      expect(p.AlarmDescription).toContain('docs/runbook.md#file-drop-stale');
      expect(health).toContain(`"${id}"`);
      // The nightly export stops: 26 hours without a file is ALARM; one file in them is not.
      expect(evaluate(p, new Array(26).fill(undefined), 'OK')).toBe('ALARM');
      expect(evaluate(p, [...new Array(25).fill(undefined), 1], 'ALARM')).toBe('OK');
    }
    expect(monitoring.alarmsOf('critical').filter((a) => a.anchor === 'file-drop-stale')).toHaveLength(3);
  });

  it("file-drop freshness follows fileDrop.freshnessSlaHours and a stream's own freshnessSlaMinutes", () => {
    expect(fileDropFreshnessShape(26 * 60)).toEqual({ periodMinutes: 60, evaluationPeriods: 26 });
    expect(fileDropFreshnessShape(90)).toEqual({ periodMinutes: 60, evaluationPeriods: 2 });
    expect(fileDropFreshnessShape(30)).toEqual({ periodMinutes: 30, evaluationPeriods: 1 });
    const config = exampleConfig('lucky-files', [
      [['fileDrop', 'freshnessSlaHours'], 50],
      [['streams', 'payments', 'freshnessSlaMinutes'], 180],
    ]);
    expect(fileDropSlaMinutes(config, 'players')).toBe(3000);
    expect(fileDropSlaMinutes(config, 'payments')).toBe(180);
  });

  it('subscribes notification e-mails with a dead-letter queue', () => {
    const { template } = standalone((stack) => ({
      notificationEmails: ['data-team@example.com'],
      notificationDeadLetterQueue: new sqs.Queue(stack, 'NotificationDlq'),
    }));
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'data-team@example.com',
      RedrivePolicy: Match.objectLike({ deadLetterTargetArn: Match.anyValue() }),
    });
  });

  it('refuses options that cannot work, saying how to fix them', () => {
    expect(() => standalone({ snapshotStallTime: Duration.seconds(90) })).toThrow(
      /snapshotStallTime must be whole minutes between 5 and 1440, got 1 minute 30 seconds/,
    );
    expect(() => standalone({ notificationEmails: ['oncall@example.com'] })).toThrow(
      /notificationEmails need a notificationDeadLetterQueue/,
    );
    const acme = exampleConfig('acme-casino');
    expect(() => synthesizeWith(acme, { freshnessPeriod: Duration.minutes(10) })).toThrow(
      /freshnessPeriod \(10 minutes\) is shorter than the incremental schedule interval \(15 minutes\)/,
    );
  });
});

/** The acme stack's Monitoring props, rebuilt in a stack of its own with other options. */
function synthesizeWith(config: ReturnType<typeof exampleConfig>, options: Partial<MonitoringProps>): Monitoring {
  const { stack } = synthesize(config);
  const pipeline = stack.pipeline!;
  const extractors = stack.extractors!;
  return new Monitoring(stack, 'Tuned', {
    config,
    encryptionKey: stack.landingZone.key,
    alarmTopic: stack.alarmTopic.topic,
    pipeline: {
      snapshotStateMachine: pipeline.snapshotStateMachine,
      incrementalStateMachine: pipeline.incrementalStateMachine,
      scheduleDeadLetterQueue: pipeline.scheduleDeadLetterQueue,
      extractWindow: extractors.extractWindow.function,
      incrementalSync: extractors.incrementalSync.function,
      planSnapshot: pipeline.planSnapshot.function,
      finalizeSnapshot: pipeline.finalizeSnapshot.function,
      runLock: pipeline.runLock.function,
    },
    ...options,
  });
}

describe('freshness alarm shape', () => {
  it('reads the interval of rate and common cron schedules', () => {
    expect(scheduleIntervalMinutes('rate(15 minutes)')).toBe(15);
    expect(scheduleIntervalMinutes('rate(1 hour)')).toBe(60);
    expect(scheduleIntervalMinutes('rate(2 hours)')).toBe(120);
    expect(scheduleIntervalMinutes('rate(1 day)')).toBe(1440);
    expect(scheduleIntervalMinutes('cron(0/10 * * * ? *)')).toBe(10);
    expect(scheduleIntervalMinutes('cron(5 * * * ? *)')).toBe(60);
    expect(scheduleIntervalMinutes('cron(0 */4 * * ? *)')).toBe(240);
    expect(scheduleIntervalMinutes('cron(0 2 * * ? *)')).toBe(1440);
  });

  it('is at least the schedule interval, about half the SLA, and fits in the one day an alarm looks back', () => {
    expect(freshnessShape(15, 30)).toEqual({ periodMinutes: 15, evaluationPeriods: 3, datapointsToAlarm: 2 });
    expect(freshnessShape(15, 120)).toEqual({ periodMinutes: 60, evaluationPeriods: 3, datapointsToAlarm: 2 });
    expect(freshnessShape(60, 30)).toEqual({ periodMinutes: 60, evaluationPeriods: 3, datapointsToAlarm: 2 });
    expect(freshnessShape(15, 10080)).toEqual({ periodMinutes: 480, evaluationPeriods: 3, datapointsToAlarm: 2 });
    expect(freshnessShape(1440, 2880)).toEqual({ periodMinutes: 1440, evaluationPeriods: 1, datapointsToAlarm: 1 });
    for (const [interval, sla] of [
      [5, 5],
      [15, 60],
      [480, 10080],
      [1440, 60],
    ] as const) {
      const s = freshnessShape(interval, sla);
      expect(s.periodMinutes).toBeGreaterThanOrEqual(Math.min(interval, 1440));
      expect(s.periodMinutes * s.evaluationPeriods).toBeLessThanOrEqual(1440);
    }
  });
});
