#!/usr/bin/env node
// Launcher of the connector CLI (`npx connector <command>`): runs cli/connector.ts through tsx.
import { register } from 'tsx/esm/api';

register();
process.env.CONNECTOR_CLI_MAIN = '1';
await import('../cli/connector.ts');
