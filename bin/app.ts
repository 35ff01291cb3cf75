/**
 * The CDK app: one OperatorConnectorStack per operator config file. Reads `config/operators/` (or
 * the directory in CONNECTOR_CONFIG_DIR); when any file is invalid it prints every problem and
 * exits 1 before anything is synthesized.
 */
import { App } from 'aws-cdk-lib';
import { ConfigError, type LoadedConfig, loadOperatorConfigDir } from '#shared/config/load';
import { applyCompliancePacks } from '../lib/nag.ts';
import { OperatorConnectorStack, operatorStackName } from '../lib/stacks/operator-connector-stack.ts';

const configDir = process.env.CONNECTOR_CONFIG_DIR ?? 'config/operators';

let configs: LoadedConfig[];
try {
  configs = loadOperatorConfigDir(configDir);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const app = new App();
applyCompliancePacks(app);
for (const { config } of configs) {
  new OperatorConnectorStack(app, operatorStackName(config), { config });
}
app.synth();
