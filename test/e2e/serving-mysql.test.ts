/**
 * The serving tables end to end against the local MariaDB/MySQL (see serving-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeServing } from './serving-suite.ts';

describeServing('mysql', await engineAvailable('mysql'));
