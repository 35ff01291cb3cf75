/**
 * The wallet ledger audit end to end against the local PostgreSQL (see wallet-ledger-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeWalletLedger } from './wallet-ledger-suite.ts';

describeWalletLedger('postgres', await engineAvailable('postgres'));
