/**
 * The wallet ledger audit end to end against the local MariaDB/MySQL (see wallet-ledger-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeWalletLedger } from './wallet-ledger-suite.ts';

describeWalletLedger('mysql', await engineAvailable('mysql'));
