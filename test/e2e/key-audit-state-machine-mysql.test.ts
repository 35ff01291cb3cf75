/**
 * The key-audit state machine end to end against the local MariaDB (see key-audit-state-machine-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeKeyAuditStateMachine } from './key-audit-state-machine-suite.ts';

describeKeyAuditStateMachine('mysql', await engineAvailable('mysql'));
