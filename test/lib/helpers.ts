/**
 * Building operator stacks in tests: example configs (optionally edited) parsed with the real
 * loader, and apps with the feature flags of cdk.json, as `cdk synth` runs them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseDocument } from 'yaml';
import { formatIssues, parseOperatorConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { OperatorConnectorStack, operatorStackName } from '../../lib/stacks/operator-connector-stack.ts';

export const CONFIG_DIR = 'config/operators';

/** The context (feature flags) of cdk.json. */
export function cdkContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Record<string, unknown> }).context;
}

/**
 * An app with the feature flags of cdk.json. Lambda code bundling is skipped (templates are the
 * same; the bundle itself is built and loaded by its own test).
 */
export function testApp(props: AppProps = {}): App {
  return new App({ ...props, context: { ...cdkContext(), 'aws:cdk:bundling-stacks': [], ...props.context } });
}

/**
 * An example config from config/operators, with `edits` (YAML path → value; `undefined` deletes)
 * applied to its YAML before it is validated, so variants pass through the real loader.
 */
export function exampleConfig(
  name: string,
  edits: readonly [readonly (string | number)[], unknown][] = [],
): OperatorConfig {
  const file = join(CONFIG_DIR, `${name}.yaml`);
  const doc = parseDocument(readFileSync(file, 'utf8'));
  for (const [path, value] of edits) {
    if (value === undefined) doc.deleteIn(path);
    else doc.setIn(path, value);
  }
  const result = parseOperatorConfig(doc.toString(), file);
  if (!result.config) throw new Error(formatIssues(result.issues));
  return result.config;
}

/** A synthesized operator stack and its template. */
export interface SynthesizedStack {
  readonly stack: OperatorConnectorStack;
  readonly template: Template;
}

/** Builds the stack of `config` in its own app and synthesizes it. */
export function synthesize(config: OperatorConfig): SynthesizedStack {
  const stack = new OperatorConnectorStack(testApp(), operatorStackName(config), { config });
  return { stack, template: Template.fromStack(stack) };
}
