/**
 * Per-window money totals reconciled source vs lake, on the local PostgreSQL (see money-totals-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeMoneyTotals } from './money-totals-suite.ts';

describeMoneyTotals('postgres', await engineAvailable('postgres'));
