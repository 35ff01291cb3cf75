import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type SynthesizedStack, synthesize } from '../helpers.ts';

type Json = Record<string, unknown>;

function resources(template: Template, type: string): [string, Json][] {
  return Object.entries(template.findResources(type)) as [string, Json][];
}

/** The connector's own functions (not CDK's custom-resource providers). */
function connectorFunctions(template: Template): [string, Json][] {
  return resources(template, 'AWS::Lambda::Function').filter(([, r]) =>
    /^(extract-window|incremental-sync)\.handler$/.test(String((r.Properties as Json).Handler)),
  );
}

describe('Extractors', () => {
  let acme: SynthesizedStack;
  let royal: SynthesizedStack;
  beforeAll(() => {
    acme = synthesize(exampleConfig('acme-casino'));
    royal = synthesize(exampleConfig('royal-spins'));
  });

  it('creates extract-window and incremental-sync on Node.js 22, arm64, traced, from one shared asset', () => {
    const fns = connectorFunctions(acme.template).map(([, r]) => r.Properties as Json);
    const handlers = fns.map((p) => p.Handler).sort();
    expect(handlers).toEqual(['extract-window.handler', 'incremental-sync.handler']);
    for (const p of fns) {
      expect(p.Runtime).toBe('nodejs22.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.TracingConfig).toEqual({ Mode: 'Active' });
      expect((p.KmsKeyArn as Json)['Fn::GetAtt']).toBeDefined();
    }
    const codes = new Set(fns.map((p) => JSON.stringify((p.Code as Json).S3Key)));
    expect(codes.size).toBe(1);
  });

  it('caps extract-window concurrency at maxParallelWindows so the operator database never sees more sessions', () => {
    const config = exampleConfig('acme-casino', [[['snapshot', 'maxParallelWindows'], 3]]);
    const { template } = synthesize(config);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'extract-window.handler',
      ReservedConcurrentExecutions: 3,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'incremental-sync.handler',
      ReservedConcurrentExecutions: Object.keys(config.streams).length,
    });
  });

  it('gives extract-window two vCPUs (3,538 MB) for its worker thread; incremental-sync keeps one (1,769 MB)', () => {
    const { template } = synthesize(exampleConfig('acme-casino'));
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'extract-window.handler', MemorySize: 3538 });
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'incremental-sync.handler', MemorySize: 1769 });
  });

  it('places the extractors in the configured VPC subnets and security groups', () => {
    royal.template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'extract-window.handler',
      VpcConfig: {
        SubnetIds: Match.arrayWith([Match.stringLikeRegexp('^subnet-')]),
        SecurityGroupIds: Match.arrayWith([Match.stringLikeRegexp('^sg-')]),
      },
    });
    acme.template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'extract-window.handler',
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
    });
  });

  it('passes only non-secret settings in the environment, never a credential', () => {
    for (const [, r] of connectorFunctions(acme.template)) {
      const env = ((r.Properties as Json).Environment as Json).Variables as Json;
      expect(Object.keys(env).sort()).toEqual([
        'CONNECTOR_BUCKET',
        'CONNECTOR_KMS_KEY_ARN',
        'CONNECTOR_OPERATOR_ID',
        'CONNECTOR_SECRET_ID',
        'CONNECTOR_STAGE',
        'CONNECTOR_STATE_TABLE',
        'NODE_OPTIONS',
        'POWERTOOLS_LOG_LEVEL',
      ]);
      expect(JSON.stringify(env)).not.toMatch(/password|CHANGE_ME/i);
    }
  });

  it('keeps every permission in customer-managed policies: no inline policy and no AWS-managed policy on function roles', () => {
    const roleIds = connectorFunctions(acme.template).map(
      ([, r]) => (((r.Properties as Json).Role as Json)['Fn::GetAtt'] as string[])[0],
    );
    expect(roleIds.length).toBe(2);
    const inline = resources(acme.template, 'AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify((p.Properties as Json).Roles).match(new RegExp(roleIds.join('|'))),
    );
    expect(inline).toEqual([]);
    const roles = resources(acme.template, 'AWS::IAM::Role').filter(([id]) => roleIds.includes(id));
    expect(roles.length).toBe(2);
    for (const [, r] of roles) {
      expect((r.Properties as Json).ManagedPolicyArns).toBeUndefined();
      expect((r.Properties as Json).Policies).toBeUndefined();
    }
  });

  it("scopes the extractors to this operator's secret, table and bucket prefixes", () => {
    const policies = resources(acme.template, 'AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('Extractors'));
    expect(policies.length).toBe(2);
    const secretId = acme.stack.getLogicalId(acme.stack.sourceCredentials?.secret.node.defaultChild as never);
    for (const [, p] of policies) {
      const statements = ((p.Properties as Json).PolicyDocument as Json).Statement as Json[];
      const actionsOn = (action: string) =>
        statements.filter((s) => ([] as unknown[]).concat(s.Action).includes(action)).flatMap((s) => [s.Resource]);
      expect(actionsOn('secretsmanager:GetSecretValue')).toEqual([{ Ref: secretId }]);
      const listing = statements.find((s) => ([] as unknown[]).concat(s.Action).includes('s3:ListBucket'));
      expect(listing?.Condition).toEqual({ StringLike: { 's3:prefix': ['raw/*', '_manifests/*'] } });
      for (const s of statements) {
        const actions = ([] as string[]).concat(s.Action as string[]);
        if (actions.some((a) => /^(s3|dynamodb|secretsmanager|kms):/.test(a))) expect(s.Resource).not.toBe('*');
      }
    }
  });

  it("limits each extractor's integrity grant to the lookback digests of the operator's streams", () => {
    const policies = resources(acme.template, 'AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('Extractors'));
    expect(policies.length).toBe(2);
    const bucketArn = {
      'Fn::GetAtt': [acme.stack.getLogicalId(acme.stack.landingZone.bucket.node.defaultChild as never), 'Arn'],
    };
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [bucketArn, `/${prefix}*`]] });
    const streams = Object.keys(acme.stack.config.streams).sort();
    expect(streams.length).toBeGreaterThan(1);
    const digests = streams.map((stream) => objects(`_integrity/${stream}/lookback/`));
    for (const [, p] of policies) {
      const statements = ((p.Properties as Json).PolicyDocument as Json).Statement as Json[];
      const resourcesOf = (action: string) =>
        statements
          .filter((s) => ([] as unknown[]).concat(s.Action).includes(action))
          .flatMap((s) => ([] as unknown[]).concat(s.Resource));
      const integrity = (action: string) =>
        resourcesOf(action).filter((r) => JSON.stringify(r).includes('_integrity/'));
      for (const action of ['s3:PutObject', 's3:GetObject', 's3:DeleteObject']) {
        expect(integrity(action), action).toEqual(digests);
      }
      // Nothing else under _integrity/: not the prefix itself, not the wallet ledger reports.
      const all = JSON.stringify(statements);
      expect(all).not.toContain('"/_integrity/*"');
      expect(all).not.toContain('_integrity/wallet/');
      const listings = statements.filter((s) => ([] as unknown[]).concat(s.Action).includes('s3:ListBucket'));
      const prefixes = listings.flatMap((s) =>
        ([] as unknown[]).concat(((s.Condition as Json).StringLike as Json)['s3:prefix']),
      );
      expect(prefixes.filter((x) => String(x).startsWith('_integrity/')).sort()).toEqual(
        streams.map((stream) => `_integrity/${stream}/lookback/*`),
      );
    }
  });

  it('gives each function its own KMS-encrypted log group with the configured retention', () => {
    const groups = resources(acme.template, 'AWS::Logs::LogGroup').filter(([, r]) =>
      String((r.Properties as Json).LogGroupName).match(/extract-window|incremental-sync/),
    );
    expect(groups.length).toBe(2);
    for (const [, g] of groups) {
      expect((g.Properties as Json).KmsKeyId).toBeDefined();
      expect((g.Properties as Json).RetentionInDays).toBe(365);
    }
  });

  it('creates no extractor for a file-drop operator', () => {
    const lucky = synthesize(exampleConfig('lucky-files'));
    expect(lucky.stack.extractors).toBeUndefined();
    expect(
      resources(lucky.template, 'AWS::Lambda::Function').filter(([, r]) =>
        String((r.Properties as Json).Handler).match(/extract-window|incremental-sync/),
      ),
    ).toEqual([]);
  });
});
