/**
 * cdk.json adopts every feature flag aws-cdk-lib recommends for new projects, except the few the
 * product deliberately sets otherwise (each with its reason in docs/architecture.md).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cdkContext } from './helpers.ts';

/** Flags set on purpose to another value than the recommended one. */
const DELIBERATE: Record<string, unknown> = {
  // The connector deploys to the aws partition only; config validation refuses other partitions.
  '@aws-cdk/core:target-partitions': ['aws'],
  // Construct metadata is not sent to AWS with the templates.
  '@aws-cdk/core:enableAdditionalMetadataCollection': false,
};

describe('cdk.json feature flags', () => {
  const recommended = JSON.parse(
    readFileSync(createRequire(import.meta.url).resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8'),
  ) as Record<string, unknown>;
  const context = cdkContext();

  it('sets every flag the pinned aws-cdk-lib recommends, at its recommended value', () => {
    const differing = Object.entries(recommended)
      .filter(([flag, value]) => !(flag in DELIBERATE) && JSON.stringify(context[flag]) !== JSON.stringify(value))
      .map(([flag, value]) => `${flag}: ${JSON.stringify(context[flag])} (recommended ${JSON.stringify(value)})`);
    expect(differing).toEqual([]);
    for (const [flag, value] of Object.entries(DELIBERATE)) expect(context[flag], flag).toEqual(value);
  });

  it('fails synthesis on CloudFormation validation findings and reports annotations with them', () => {
    expect(context['@aws-cdk/core:validateAgainstDefaultRules']).toBe(true);
    expect(context['@aws-cdk/core:annotationsInValidationReport']).toBe(true);
  });
});
