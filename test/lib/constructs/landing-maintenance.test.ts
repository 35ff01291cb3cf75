import { beforeAll, describe, expect, it } from 'vitest';
import { SWEEP_SCHEDULE } from '../../../lib/constructs/landing-maintenance.ts';
import { exampleConfig, type SynthesizedStack, synthesize } from '../helpers.ts';

type Json = Record<string, unknown>;

const list = (v: unknown): unknown[] => ([] as unknown[]).concat(v);

describe('LandingMaintenance', () => {
  let acme: SynthesizedStack;
  let lucky: SynthesizedStack;
  beforeAll(() => {
    acme = synthesize(exampleConfig('acme-casino'));
    lucky = synthesize(exampleConfig('lucky-files'));
  });

  it('runs sweep-landing daily for database and file-drop operators, one at a time', () => {
    for (const s of [acme, lucky]) {
      const fn = s.stack.landingMaintenance.sweepFunction.function;
      const fnId = s.stack.getLogicalId(fn.node.defaultChild as never);
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Handler: 'sweep-landing.handler',
        ReservedConcurrentExecutions: 1,
        Runtime: 'nodejs22.x',
      });
      const schedules = Object.values(s.template.findResources('AWS::Scheduler::Schedule')).map(
        (r) => (r as { Properties: Json }).Properties,
      );
      const sweep = schedules.find((p) => String(p.Name).endsWith('-sweep-landing'))!;
      expect(sweep.ScheduleExpression).toBe(SWEEP_SCHEDULE);
      expect(sweep.ScheduleExpressionTimezone).toBe('UTC');
      expect((sweep.Target as Json).Arn).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
      expect((sweep.Target as Json).DeadLetterConfig).toBeDefined();
    }
  });

  it('lets the sweep list and read committed lists but delete only attempts, never a committed list', () => {
    const s = acme;
    const bucketId = s.stack.getLogicalId(s.stack.landingZone.bucket.node.defaultChild as never);
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] });
    const policies = Object.entries(s.template.findResources('AWS::IAM::ManagedPolicy')).filter(([id]) =>
      id.startsWith('LandingMaintenanceSweepLanding'),
    );
    expect(policies).toHaveLength(1);
    const statements = (((policies[0]![1] as Json).Properties as Json).PolicyDocument as Json).Statement as Json[];
    const on = (action: string) => statements.filter((st) => list(st.Action).includes(action));
    expect(on('s3:DeleteObject').flatMap((st) => list(st.Resource))).toEqual(
      expect.arrayContaining([objects('raw/'), objects('_manifests/')]),
    );
    expect(on('s3:DeleteObject').flatMap((st) => list(st.Resource))).toHaveLength(2);
    expect(on('s3:GetObject').flatMap((st) => list(st.Resource))).toEqual([objects('_committed/')]);
    expect(on('s3:ListBucket').map((st) => st.Condition)).toEqual([
      { StringLike: { 's3:prefix': ['raw/*', '_manifests/*', '_committed/*'] } },
    ]);
    expect(on('s3:PutObject')).toEqual([]);
    for (const st of statements) {
      const actions = list(st.Action).map(String);
      if (actions.some((a) => /^(s3|kms):/.test(a))) expect(st.Resource).not.toBe('*');
    }
    // The schedule's role may invoke the sweep and nothing else.
    const role = Object.entries(s.template.findResources('AWS::IAM::ManagedPolicy')).find(([id]) =>
      id.startsWith('LandingMaintenanceSchedulePolicy'),
    )!;
    const roleStatements = (((role[1] as Json).Properties as Json).PolicyDocument as Json).Statement as Json[];
    const fnId = s.stack.getLogicalId(s.stack.landingMaintenance.sweepFunction.function.node.defaultChild as never);
    expect(roleStatements.find((st) => list(st.Action).includes('lambda:InvokeFunction'))?.Resource).toEqual({
      'Fn::GetAtt': [fnId, 'Arn'],
    });
  });
});
