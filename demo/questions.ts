/**
 * The demo's business questions, as an analyst asks them of the serving tables in Athena: Trino
 * SQL that the local engine (DuckDB) also runs (test/demo/questions.test.ts parses each with a
 * Trino grammar). `table(stream)` is the serving table's qualified name.
 */
import type { StreamName } from '#shared/canonical';

export type TableName = (stream: StreamName) => string;

/** Approved deposits per day and currency, the last 7 days (UTC). */
export const depositsPerDay = (t: TableName) => `SELECT CAST(CAST(created_at AS date) AS varchar) AS day,
       currency,
       count(*) AS deposits,
       CAST(sum(amount) AS varchar) AS amount
FROM ${t('payments')}
WHERE direction = 'deposit'
  AND status = 'approved'
  AND created_at >= current_date - INTERVAL '6' DAY
GROUP BY CAST(created_at AS date), currency
ORDER BY day, currency`;

/** Players with a round since midnight UTC 1, 7 and 30 days ago, and over the whole history. */
export const activePlayers = (t: TableName) => `SELECT
  count(DISTINCT player_id) FILTER (WHERE started_at >= current_date - INTERVAL '1' DAY) AS d1,
  count(DISTINCT player_id) FILTER (WHERE started_at >= current_date - INTERVAL '7' DAY) AS d7,
  count(DISTINCT player_id) FILTER (WHERE started_at >= current_date - INTERVAL '30' DAY) AS d30,
  count(DISTINCT player_id) AS all_time
FROM ${t('game_rounds')}`;

/** Player accounts, open ones and KYC-verified ones. */
export const playerAccounts = (t: TableName) => `SELECT count(*) AS accounts,
  count(*) FILTER (WHERE status = 'active') AS open_accounts,
  count(*) FILTER (WHERE kyc_status = 'verified') AS verified
FROM ${t('players')}`;

/** GGR (stake − payout) per game of the settled rounds in EUR, with the hold. */
export const ggrPerGame = (t: TableName) => `SELECT game_id,
       provider,
       count(*) AS rounds,
       CAST(sum(stake) AS varchar) AS stake,
       CAST(sum(payout) AS varchar) AS payout,
       CAST(sum(stake) - sum(payout) AS varchar) AS ggr,
       round(100 * (sum(stake) - sum(payout)) / nullif(sum(stake), 0), 2) AS hold
FROM ${t('game_rounds')}
WHERE status = 'settled'
  AND currency = 'EUR'
GROUP BY game_id, provider
ORDER BY sum(stake) - sum(payout) DESC`;

/** Every question, for the grammar test. */
export const QUESTIONS = { depositsPerDay, activePlayers, playerAccounts, ggrPerGame } as const;
