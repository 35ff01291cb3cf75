/**
 * The key audit against the local PostgreSQL (see key-audit-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeKeyAudit } from './key-audit-suite.ts';

describeKeyAudit('postgres', await engineAvailable('postgres'));
