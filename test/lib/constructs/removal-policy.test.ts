import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import type { DatabaseSourceConfig } from '#shared/config/schema';
import { LandingZone } from '../../../lib/constructs/landing-zone.ts';
import { DataRemovalPolicyError } from '../../../lib/constructs/removal-policy.ts';
import { SourceCredentials } from '../../../lib/constructs/source-credentials.ts';
import { SyncState } from '../../../lib/constructs/sync-state.ts';
import { exampleConfig, testApp } from '../helpers.ts';

const GUARD =
  /RemovalPolicy\.DESTROY would delete operator data on `cdk destroy` and is only allowed for the sandbox stage \(this is production\)/;
const config = exampleConfig('royal-spins');
const source = config.source as DatabaseSourceConfig;

function newStack(): Stack {
  return new Stack(testApp(), 'Test', { env: { account: '222222222222', region: 'eu-central-1' } });
}

describe('data removal policy guard', () => {
  it('refuses DESTROY in production for the landing zone, credentials and sync state', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    const production = {
      operatorId: 'royal-spins',
      stage: 'production' as const,
      removalPolicy: RemovalPolicy.DESTROY,
    };
    expect(() => new LandingZone(stack, 'LandingZone', { ...production, retention: config.retention })).toThrow(GUARD);
    expect(() => new LandingZone(stack, 'LandingZone2', { ...production, retention: config.retention })).toThrow(
      DataRemovalPolicyError,
    );
    expect(() => new SourceCredentials(stack, 'Credentials', { ...production, source, encryptionKey: key })).toThrow(
      GUARD,
    );
    expect(() => new SyncState(stack, 'SyncState', { ...production, encryptionKey: key })).toThrow(GUARD);
  });

  it('names the resource the error is about', () => {
    const stack = newStack();
    expect(
      () =>
        new LandingZone(stack, 'LandingZone', {
          operatorId: 'royal-spins',
          stage: 'production',
          retention: config.retention,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
    ).toThrow(/^landing zone of royal-spins: /);
  });

  it('retains by default and destroys (emptying the buckets) when a sandbox opts in', () => {
    const retained = newStack();
    const lz = new LandingZone(retained, 'LandingZone', {
      operatorId: 'lucky-files',
      stage: 'sandbox',
      retention: config.retention,
    });
    expect(lz.removalPolicy).toBe(RemovalPolicy.RETAIN);
    const retainedTemplate = Template.fromStack(retained);
    retainedTemplate.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    retainedTemplate.allResources('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
    retainedTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 0);

    const destroyed = newStack();
    new LandingZone(destroyed, 'LandingZone', {
      operatorId: 'lucky-files',
      stage: 'sandbox',
      retention: config.retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const destroyedTemplate = Template.fromStack(destroyed);
    destroyedTemplate.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    destroyedTemplate.allResourcesProperties('AWS::KMS::Key', { PendingWindowInDays: 7 });
    destroyedTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
  });
});
