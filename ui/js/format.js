// Dates and durations in the person's own locale (the WebView's). Formatting only: what the
// times mean comes from Rust.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A Unix time (seconds) as a local date and time, or null. */
export function formatUnix(unix) {
  if (unix === null || unix === undefined) return null;
  return dateTime.format(new Date(unix * 1000));
}

/** A duration in seconds in words: "45 seconds", "2 hours", "3 days". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return null;
  const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
  for (const [unit, size] of units) {
    if (seconds >= size || unit === 'second') {
      const n = Math.floor(seconds / size);
      return new Intl.NumberFormat(undefined, { style: 'unit', unit, unitDisplay: 'long' }).format(n);
    }
  }
  return null;
}

/** "23 Nov 2026, 09:05 (2 hours old)" for something `ageSeconds` old now. */
export function formatAgeAsDate(ageSeconds, now = Date.now()) {
  if (ageSeconds === null || ageSeconds === undefined) return null;
  const when = dateTime.format(new Date(now - ageSeconds * 1000));
  return `${when} (${formatDuration(ageSeconds)} old)`;
}

/** A JSON value as short text for the apply report. */
export function formatValue(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
