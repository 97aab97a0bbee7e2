/** Python's number formats as mmengine's log lines use them. */

/** `f'{value:.{digits}e}'`: the exponent has a sign and at least two digits (2.0000e-02). */
export function formatExponential(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value).toLowerCase().replace('infinity', 'inf');
  const [mantissa, exponent] = value.toExponential(digits).split('e') as [string, string];
  const sign = exponent.startsWith('-') ? '-' : '+';
  return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`;
}

/** `f'{value:.{digits}f}'`. */
export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value).toLowerCase().replace('infinity', 'inf');
  return value.toFixed(digits);
}

/** `str(datetime.timedelta(seconds=int(seconds)))`: H:MM:SS, with "N day(s), " beyond a day. */
export function formatTimedelta(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const days = Math.floor(total / 86400);
  const rest = total % 86400;
  const clock = `${Math.floor(rest / 3600)}:${String(Math.floor((rest % 3600) / 60)).padStart(2, '0')}:${String(rest % 60).padStart(2, '0')}`;
  return days ? `${days} day${days === 1 ? '' : 's'}, ${clock}` : clock;
}

/** mmengine's timestamp: YYYYMMDD_HHMMSS in local time. */
export function timestampOf(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}_${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

/** The logger's asctime: YYYY/MM/DD HH:MM:SS. */
export function logTimeOf(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}/${pad(date.getMonth() + 1)}/${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
