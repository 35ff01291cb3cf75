/** Every command of the CLI, in the order `connector --help` lists them. */
import type { Command } from '../io.ts';
import { checkCommand } from './check.ts';
import { credentialsCommand } from './credentials.ts';
import { discoverCommand } from './discover.ts';
import { doctorCommand } from './doctor.ts';
import { dropInstructionsCommand } from './drop-instructions.ts';
import { eraseCommand } from './erase.ts';
import { grantSqlCommand } from './grant-sql.ts';
import { replayCommand, snapshotCommand } from './run.ts';
import { runLocalCommand } from './run-local.ts';
import { statusCommand } from './status.ts';
import { validateCommand } from './validate.ts';

export const commands: readonly Command[] = [
  doctorCommand,
  validateCommand,
  grantSqlCommand,
  discoverCommand,
  checkCommand,
  credentialsCommand,
  dropInstructionsCommand,
  statusCommand,
  snapshotCommand,
  replayCommand,
  runLocalCommand,
  eraseCommand,
];
