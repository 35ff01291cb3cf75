/**
 * Every example operator synthesizes with the compliance packs and no unacknowledged finding; and
 * an unacknowledged finding does fail synthesis, so this check can fail.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { NagPack } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOperatorConfigDir } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { acknowledgeFindings, applyCompliancePacks } from '../lib/nag.ts';
import { OperatorConnectorStack, operatorStackName } from '../lib/stacks/operator-connector-stack.ts';
import { CONFIG_DIR, exampleConfig, testApp } from './lib/helpers.ts';

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** An app that runs the compliance packs and throws on findings, whatever NODE_ENV says. */
function nagApp(): { app: App; packs: NagPack[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'connector-nag-'));
  outdirs.push(outdir);
  const app = testApp({ outdir, context: { '@aws-cdk/core:appMode': 'inmemory' } });
  return { app, packs: applyCompliancePacks(app) };
}

/** Every finding the packs report, as `rule at path`. */
function findings(packs: NagPack[], app: App): string[] {
  return packs.flatMap((pack) =>
    pack
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)),
  );
}

/** The message synthesis fails with, or a note that it did not fail. */
function synthError(app: App): string {
  try {
    app.synth();
  } catch (err) {
    return (err as Error).message;
  }
  return 'synthesis succeeded';
}

const examples: OperatorConfig[] = loadOperatorConfigDir(CONFIG_DIR).map((c) => c.config);

describe('compliance packs (AwsSolutions, PCI DSS 3.2.1, NIST 800-53 R5, Serverless)', () => {
  it('cover at least the three example operators', () => {
    expect(examples.map((c) => c.operatorId)).toEqual(
      expect.arrayContaining(['acme-casino', 'royal-spins', 'lucky-files']),
    );
  });

  it.each(examples.map((c) => [operatorStackName(c), c] as const))('%s has no unacknowledged finding', (_, config) => {
    const { app, packs } = nagApp();
    new OperatorConnectorStack(app, operatorStackName(config), { config });
    expect(findings(packs, app)).toEqual([]);
    // The same packs run inside synthesis: it succeeds and the validation report lists no finding.
    const assembly = app.synth();
    const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
    const violations = (report.pluginReports as { violations?: unknown[] }[]).flatMap((r) => r.violations ?? []);
    expect(violations).toEqual([]);
  });

  it('acknowledged findings carry their reason into the template metadata', () => {
    const { app } = nagApp();
    const stack = new OperatorConnectorStack(app, 'royal-spins-production', { config: exampleConfig('royal-spins') });
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template;
    const secret = template.Resources[stack.getLogicalId(stack.sourceCredentials?.secret.node.defaultChild as never)];
    expect(secret.Metadata.cdk_nag.rules_to_suppress).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'AwsSolutions-SMG4', reason: expect.stringMatching(/operator's own database/) }),
      ]),
    );
  });

  it('an unacknowledged finding fails synthesis and names the rule and resource', () => {
    const { app, packs } = nagApp();
    const stack = new OperatorConnectorStack(app, 'lucky-files-sandbox', { config: exampleConfig('lucky-files') });
    const bare = new s3.Bucket(stack, 'BareBucket');
    // Acknowledging one finding hides only that finding.
    acknowledgeFindings(bare, ['AwsSolutions-S1'], 'Test: only this one finding is acknowledged.');

    const found = findings(packs, app);
    expect(found).toContain('AwsSolutions-S10 at lucky-files-sandbox/BareBucket/Resource');
    expect(found).toContain('PCI.DSS.321-S3BucketLoggingEnabled at lucky-files-sandbox/BareBucket/Resource');
    expect(found).toContain('NIST.800.53.R5-S3DefaultEncryptionKMS at lucky-files-sandbox/BareBucket/Resource');
    expect(found).not.toContain('AwsSolutions-S1 at lucky-files-sandbox/BareBucket/Resource');
    expect(found.every((f) => f.includes('/BareBucket/'))).toBe(true);

    expect(synthError(app)).toMatch(/lucky-files-sandbox\/BareBucket\/Resource[\s\S]*AwsSolutions-S10/);
  });

  it('a finding of warning level fails synthesis too', () => {
    const { app, packs } = nagApp();
    const stack = new OperatorConnectorStack(app, 'lucky-files-sandbox', { config: exampleConfig('lucky-files') });
    const table = new dynamodb.Table(stack, 'NoRecovery', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    });
    // Leave only AwsSolutions-DDB3 (no point-in-time recovery), which the pack reports as a warning.
    acknowledgeFindings(
      table,
      ['NIST.800.53.R5-DynamoDBPITREnabled', 'NIST.800.53.R5-DynamoDBInBackupPlan'],
      'Test: leave only the warning-level finding.',
    );
    const violations = packs.flatMap((p) => p.validateScope(app).violations);
    expect(violations.map((v) => [v.ruleName, v.severity])).toEqual([['AwsSolutions-DDB3', 'warning']]);
    expect(synthError(app)).toMatch(/lucky-files-sandbox\/NoRecovery\/Resource[\s\S]*AwsSolutions-DDB3/);
  });
});
