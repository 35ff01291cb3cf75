/**
 * EventBridge Scheduler expressions for incremental syncs: `rate(N unit)` or a six-field
 * `cron(minutes hours day-of-month month day-of-week year)`, evaluated in UTC.
 *
 * Cron fields are checked as EventBridge defines them (no npm cron parser follows its dialect:
 * day-of-week 1-7 from Sunday, a year field, `?`, `L`, `W`, `#`, exactly one of the two day fields
 * `?`), and the run times they describe get the same floor as rates: never two runs less than
 * 5 minutes apart (to protect the operator database). Rates are also capped at one day; a cron may
 * leave longer gaps on purpose (e.g. business days only).
 */

/** Shortest interval between two incremental runs, in minutes. */
export const MIN_INTERVAL_MINUTES = 5;
/** Longest interval between two incremental runs of a rate expression, in minutes. */
export const MAX_INTERVAL_MINUTES = 1440;

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
/** Days scanned to find the day-to-day gaps: eight years cover every leap-year and weekday pattern. */
const SCAN_DAYS = 8 * 366;
const DAY_MS = 86_400_000;

/** A problem with an expression, phrased for the config error message. */
class ScheduleProblem extends Error {}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const MINUTES: FieldSpec = { name: 'minutes', min: 0, max: 59 };
const HOURS: FieldSpec = { name: 'hours', min: 0, max: 23 };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTHS };
const DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS };
const YEAR: FieldSpec = { name: 'year', min: 1970, max: 2199 };

function value(text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named + 1;
  if (!/^\d+$/.test(text)) {
    throw new ScheduleProblem(
      `${spec.name}: "${text}" is not a number${spec.names ? ` or a name (${spec.names[0]}-${spec.names.at(-1)})` : ''}`,
    );
  }
  const n = Number(text);
  if (n < spec.min || n > spec.max) {
    throw new ScheduleProblem(`${spec.name}: ${n} is out of range (${spec.min}-${spec.max})`);
  }
  return n;
}

/** Values of a field made of `*`, numbers, names, ranges `a-b`, increments `a/n`, `*\/n`, `a-b/n` and lists. */
function values(field: string, spec: FieldSpec): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    if (part === '') throw new ScheduleProblem(`${spec.name}: empty element in "${field}"`);
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined || range === undefined)
      throw new ScheduleProblem(`${spec.name}: "${part}" has more than one "/"`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = spec.min;
      to = spec.max;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (more !== undefined || !a || !b) throw new ScheduleProblem(`${spec.name}: "${range}" is not a range like 1-5`);
      from = value(a, spec);
      to = value(b, spec);
      if (from > to) throw new ScheduleProblem(`${spec.name}: the range ${range} runs backwards`);
    } else {
      from = value(range, spec);
      to = stepText === undefined ? from : spec.max;
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1 || Number(stepText) > spec.max) {
        throw new ScheduleProblem(`${spec.name}: the increment in "${part}" must be a number from 1 to ${spec.max}`);
      }
      step = Number(stepText);
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

type DayRule = (date: Date) => boolean;

const lastDayOfMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();

/** The weekday nearest to `day` in the month of `d`, never crossing into another month. */
function nearestWeekday(d: Date, day: number): number {
  const last = lastDayOfMonth(d);
  const target = Math.min(day, last);
  const weekday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), target)).getUTCDay();
  if (weekday === 6) return target === 1 ? 3 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

function dayOfMonthRule(field: string): DayRule | undefined {
  if (field === '?') return undefined;
  if (field === 'L') return (d) => d.getUTCDate() === lastDayOfMonth(d);
  if (field === 'LW') {
    return (d) => {
      const last = lastDayOfMonth(d);
      const lastWeekday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), last)).getUTCDay();
      const day = lastWeekday === 6 ? last - 1 : lastWeekday === 0 ? last - 2 : last;
      return d.getUTCDate() === day;
    };
  }
  const weekday = /^(\d+)W$/.exec(field);
  if (weekday) {
    const day = value(weekday[1] ?? '', DAY_OF_MONTH);
    return (d) => d.getUTCDate() === nearestWeekday(d, day);
  }
  if (/[LW#?]/.test(field)) {
    throw new ScheduleProblem(`day-of-month: "${field}" is not valid; use L, LW, a day with W (e.g. 15W), or days`);
  }
  const days = values(field, DAY_OF_MONTH);
  return (d) => days.has(d.getUTCDate());
}

function dayOfWeekRule(field: string): DayRule | undefined {
  if (field === '?') return undefined;
  const dow = (d: Date) => d.getUTCDay() + 1; // EventBridge: 1 = SUN … 7 = SAT
  if (field === 'L') return (d) => dow(d) === 7;
  const last = /^(\w+)L$/.exec(field);
  if (last) {
    const day = value(last[1] ?? '', DAY_OF_WEEK);
    return (d) => dow(d) === day && d.getUTCDate() + 7 > lastDayOfMonth(d);
  }
  const nth = /^(\w+)#(\d+)$/.exec(field);
  if (nth) {
    const day = value(nth[1] ?? '', DAY_OF_WEEK);
    const k = Number(nth[2]);
    if (k < 1 || k > 5) throw new ScheduleProblem(`day-of-week: the occurrence in "${field}" must be from 1 to 5`);
    return (d) => dow(d) === day && Math.ceil(d.getUTCDate() / 7) === k;
  }
  if (/[LW#?]/.test(field)) {
    throw new ScheduleProblem(
      `day-of-week: "${field}" is not valid; use L, a day with L (e.g. 6L), day#n (e.g. 2#1), or days`,
    );
  }
  const days = values(field, DAY_OF_WEEK);
  return (d) => days.has(dow(d));
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
const duration = (minutes: number) =>
  minutes % 1440 === 0
    ? plural(minutes / 1440, 'day')
    : minutes % 60 === 0
      ? plural(minutes / 60, 'hour')
      : plural(minutes, 'minute');

/**
 * Checks a six-field cron body (without `cron(` and `)`); returns what is wrong, or undefined.
 * `from` is the first day scanned for run times (today by default).
 */
export function checkCron(body: string, from: Date = new Date()): string | undefined {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
  }
  const [m, h, dom, mon, dow, yr] = fields as [string, string, string, string, string, string];
  try {
    if ((dom === '?') === (dow === '?')) {
      return 'exactly one of day-of-month and day-of-week must be "?" (e.g. cron(0/15 * * * ? *))';
    }
    const minutes = [...values(m, MINUTES)].sort((a, b) => a - b);
    const hours = [...values(h, HOURS)].sort((a, b) => a - b);
    const domRule = dayOfMonthRule(dom);
    const months = values(mon, MONTH);
    const dowRule = dayOfWeekRule(dow);
    const years = values(yr, YEAR);
    const dayRule = (domRule ?? dowRule) as DayRule;

    const times = hours.flatMap((hour) => minutes.map((minute) => hour * 60 + minute));
    const first = times[0] ?? 0;
    const last = times.at(-1) ?? 0;
    let shortest = Number.POSITIVE_INFINITY;
    for (let i = 1; i < times.length; i++) shortest = Math.min(shortest, (times[i] ?? 0) - (times[i - 1] ?? 0));
    const start = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
    let previous: number | undefined;
    let firingDays = 0;
    for (let i = 0; i < SCAN_DAYS; i++) {
      const day = new Date(start + i * DAY_MS);
      if (!years.has(day.getUTCFullYear()) || !months.has(day.getUTCMonth() + 1) || !dayRule(day)) continue;
      firingDays++;
      if (previous !== undefined) {
        shortest = Math.min(shortest, (i - previous) * 1440 - last + first);
      }
      previous = i;
    }
    if (firingDays === 0) return 'it never runs in the coming years (check the year, month and day fields)';
    if (shortest < MIN_INTERVAL_MINUTES) {
      return `it runs ${duration(shortest)} apart at times; incremental syncs run at most every ${MIN_INTERVAL_MINUTES} minutes, to protect the source database`;
    }
    return undefined;
  } catch (e) {
    if (e instanceof ScheduleProblem) return e.message;
    throw e;
  }
}

/**
 * Checks an EventBridge Scheduler expression for incremental syncs (between every 5 minutes and
 * once a day). Returns what is wrong with it, or undefined when it is valid.
 */
export function checkScheduleExpression(expr: string, from?: Date): string | undefined {
  const rate = RATE.exec(expr);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (n < 1) return 'a rate must be at least 1';
    if (n === 1 && unit.endsWith('s')) return `use the singular unit for 1: rate(1 ${unit.slice(0, -1)})`;
    if (n > 1 && !unit.endsWith('s')) return `use the plural unit for ${n}: rate(${n} ${unit}s)`;
    const minutes = unit.startsWith('minute') ? n : unit.startsWith('hour') ? n * 60 : n * 1440;
    if (minutes < MIN_INTERVAL_MINUTES) {
      return `incremental syncs run at most every ${MIN_INTERVAL_MINUTES} minutes, to protect the source database`;
    }
    if (minutes > MAX_INTERVAL_MINUTES)
      return 'incremental syncs must run at least once a day so freshness alarms make sense';
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (cron) return checkCron(cron[1] ?? '', from);
  if (/^rate\(/.test(expr)) return 'a rate is written rate(<number> <minutes|hours|days>), e.g. rate(15 minutes)';
  return 'expected rate(<n> <minutes|hours|days>) or cron(<6 fields>)';
}
