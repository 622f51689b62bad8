/**
 * The current time as an ISO 8601 string, made once per millisecond. Every event and journal
 * record carries one (several per exec), and with many hosts in parallel most of them fall in a
 * millisecond that already has its string (issue 17: `now` was ~1 % of the controller's samples
 * at W(50,30,50)). The string is the same as `new Date().toISOString()`.
 */
let lastMs = Number.NaN;
let lastIso = '';

export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
