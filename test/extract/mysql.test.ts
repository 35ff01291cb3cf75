/**
 * The extraction handlers end to end against the local MariaDB/MySQL (see handler-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeHandlers } from './handler-suite.ts';

describeHandlers('mysql', await engineAvailable('mysql'));
