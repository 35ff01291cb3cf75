/**
 * Per-window money totals reconciled source vs lake, on the local MariaDB (see money-totals-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeMoneyTotals } from './money-totals-suite.ts';

describeMoneyTotals('mysql', await engineAvailable('mysql'));
