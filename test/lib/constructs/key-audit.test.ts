/**
 * The key-audit construct: a schedule per audited stream, a least-privilege function (Athena in the
 * operator's workgroup only, reads of the audited streams' serving tables only, no write to a
 * serving table), a state machine that publishes what the audit landed, and alarms in the
 * operator's composite.
 */
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_AUDIT_SCHEDULE } from '#shared/config/schema';
import { KEY_AUDIT_STATES } from '../../../lib/constructs/key-audit.ts';
import { type AslMachine, type CfnTemplate, resolveDefinition } from '../../../local/sfn-harness.ts';
import { exampleConfig, type SynthesizedStack, synthesize } from '../helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

const logicalId = (c: IConstruct) => Stack.of(c).getLogicalId((c.node.defaultChild ?? c) as CfnElement);

/** Every statement of the customer-managed policies attached to a role. */
function statementsOf(template: Template, roleId: string): Json[] {
  const policies = template.findResources('AWS::IAM::ManagedPolicy');
  return Object.values(policies)
    .filter((p: Json) => (p.Properties.Roles ?? []).some((r: Json) => r.Ref === roleId))
    .flatMap((p: Json) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (s: Json): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('KeyAudit', () => {
  const s: SynthesizedStack = synthesize(exampleConfig('acme-casino'));
  const audit = s.stack.keyAudit!;

  it('audits players, payments and bonuses by default, each on its own schedule', () => {
    expect(audit).toBeDefined();
    const configured = Object.keys(s.stack.config.streams);
    const expected = ['players', 'payments', 'bonuses'].filter((x) => configured.includes(x));
    expect([...audit.streams].sort()).toEqual(expected.sort());
    for (const stream of audit.streams) {
      s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: DEFAULT_KEY_AUDIT_SCHEDULE,
        ScheduleExpressionTimezone: 'UTC',
        Target: Match.objectLike({
          Arn: { Ref: logicalId(audit.stateMachine) },
          Input: JSON.stringify({ stream }),
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(audit.scheduleDeadLetterQueue), 'Arn'] } },
        }),
      });
    }
  });

  it('follows streams.<stream>.keyAudit: off for a stream, on with its own schedule for another', () => {
    const other = synthesize(
      exampleConfig('acme-casino', [
        [['streams', 'payments', 'keyAudit'], { enabled: false }],
        [['streams', 'sessions', 'keyAudit'], { enabled: true, schedule: 'rate(12 hours)' }],
      ]),
    );
    expect(other.stack.keyAudit?.streams).not.toContain('payments');
    expect(other.stack.keyAudit?.streams).toContain('sessions');
    other.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(12 hours)',
      Target: Match.objectLike({ Input: JSON.stringify({ stream: 'sessions' }) }),
    });
  });

  it('grants the function Athena in the operator workgroup and reads of the audited serving tables only', () => {
    const fn = audit.function.function;
    const roleId = logicalId(fn.role!);
    const statements = statementsOf(s.template, roleId);
    const athena = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('athena:')));
    expect(athena).toHaveLength(1);
    expect(JSON.stringify(athena[0].Resource)).toContain(`workgroup/${s.stack.serving.workGroupName}`);
    const glue = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('glue:')));
    expect(glue.flatMap(actionsOf).sort()).toEqual(['glue:GetDatabase', 'glue:GetTable']);
    // Never a write to a serving table: lake/ objects are read-only.
    for (const st of statements) {
      const resource = JSON.stringify(st.Resource);
      if (resource.includes('/lake/')) expect(actionsOf(st)).toEqual(['s3:GetObject']);
      for (const stream of audit.streams) {
        if (resource.includes(`/lake/${stream}/`)) expect(audit.streams).toContain(stream);
      }
      expect(resource).not.toMatch(/lake\/\*/);
    }
    const lakeReads = statements.filter((st) => JSON.stringify(st.Resource).includes('/lake/'));
    expect(JSON.stringify(lakeReads)).not.toContain('/lake/sessions/');
    expect(statements.some((st) => actionsOf(st).includes('secretsmanager:GetSecretValue'))).toBe(true);
  });

  it('runs the audit and publishes only when it landed windows', () => {
    const machine = resolveDefinition(s.template.toJSON() as CfnTemplate, logicalId(audit.stateMachine)) as AslMachine;
    const S = KEY_AUDIT_STATES;
    expect(machine.StartAt).toBe(S.audit);
    const choice = machine.States[S.landed] as Json;
    expect(choice.Choices[0].Variable).toBe('$.audit.windows[0]');
    expect(choice.Choices[0].Next).toBe(S.publish);
    expect((machine.States[S.publish] as Json).Resource).toContain('states:startExecution.sync:2');
    expect((machine.States[S.audit] as Json).Catch[0].Next).toBe(S.failed);
  });

  it('alarms on a failed audit and on lost rows, per stream, inside the composite', () => {
    const names = s.stack.monitoring.alarms.map((a) => a.alarm.node.id);
    for (const stream of audit.streams) {
      const pascal = stream.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
      expect(names).toContain(`KeyAuditFailed${pascal}`);
      expect(names).toContain(`KeyAuditLostRows${pascal}`);
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'KeyAuditRepaired',
        Dimensions: Match.arrayWith([{ Name: 'Stream', Value: stream }]),
        TreatMissingData: 'ignore',
      });
    }
    const health = s.template.findResources('AWS::CloudWatch::CompositeAlarm');
    const rule = JSON.stringify(health[logicalId(s.stack.monitoring.healthAlarm!)]);
    for (const id of ['KeyAuditExecutionFailed', 'KeyAuditFailedPayments', 'KeyAuditLostRowsPayments']) {
      const alarm = s.stack.monitoring.alarms.find((a) => a.alarm.node.id === id)!.alarm;
      expect(rule).toContain(logicalId(alarm));
    }
  });

  it('file-drop operators have no key audit', () => {
    expect(synthesize(exampleConfig('lucky-files')).stack.keyAudit).toBeUndefined();
  });
});
