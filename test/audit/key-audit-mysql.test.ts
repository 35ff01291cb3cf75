/**
 * The key audit against the local MariaDB/MySQL (see key-audit-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeKeyAudit } from './key-audit-suite.ts';

describeKeyAudit('mysql', await engineAvailable('mysql'));
