// Number, duration and time formatting.

const intFmt = new Intl.NumberFormat('en-US');

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return intFmt.format(n);
}

// fmtTokens abbreviates a token count: 950, 12.3k, 4.56M.
export function fmtTokens(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const a = Math.abs(n);
  if (a < 1000) return String(Math.round(n));
  if (a < 100_000) return (n / 1000).toFixed(1).replace(/\.0$/, '') + 'k';
  if (a < 1_000_000) return Math.round(n / 1000) + 'k';
  if (a < 100_000_000) return (n / 1_000_000).toFixed(2).replace(/\.?0+$/, '') + 'M';
  return Math.round(n / 1_000_000) + 'M';
}

// fmtDuration renders milliseconds: 850 ms, 1.2 s, 3m 05s, 1h 02m.
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return Math.round(ms) + ' ms';
  const sec = ms / 1000;
  if (sec < 60) return (sec < 10 ? sec.toFixed(1) : Math.round(sec)) + ' s';
  const totalSec = Math.round(sec);
  const m = Math.floor(totalSec / 60);
  const s = totalSec % 60;
  if (m < 60) return `${m}m ${String(s).padStart(2, '0')}s`;
  const hrs = Math.floor(m / 60);
  return `${hrs}h ${String(m % 60).padStart(2, '0')}m`;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

export function parseTime(t) {
  if (!t) return null;
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime()) || d.getFullYear() <= 1) return null;
  return d;
}

// fmtTime renders a timestamp in local time: 2026-05-01 10:00:03.
export function fmtTime(t) {
  const d = parseTime(t);
  if (!d) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtRange renders a time range one way everywhere: the start in full,
// the end as a time of day when it falls on the same local day, else in
// full: "2026-05-01 10:00:03 → 10:42:17", "2026-05-01 23:50:00 → 2026-05-02 00:10:00".
export function fmtRange(from, to) {
  const a = parseTime(from);
  const b = parseTime(to);
  if (!a || !b) return `${fmtTime(a)} → ${fmtTime(b)}`;
  const start = fmtTime(a);
  const end = fmtTime(b);
  return `${start} → ${start.slice(0, 10) === end.slice(0, 10) ? end.slice(11) : end}`;
}

// fmtClock renders the time of day with milliseconds.
export function fmtClock(t) {
  const d = parseTime(t);
  if (!d) return '—';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

// relTime renders how long ago t was: "just now", "5 min ago", "3 h ago",
// "2 d ago", then the date.
export function relTime(t, now = Date.now()) {
  const d = parseTime(t);
  if (!d) return '—';
  const sec = Math.round((now - d.getTime()) / 1000);
  if (sec < -60) return fmtTime(d);
  if (sec < 45) return 'just now';
  const min = Math.round(sec / 60);
  if (min < 60) return `${min} min ago`;
  const hrs = Math.round(min / 60);
  if (hrs < 24) return `${hrs} h ago`;
  const days = Math.round(hrs / 24);
  if (days < 14) return `${days} d ago`;
  return fmtTime(d).slice(0, 10);
}

// fmtCost renders US dollars: $0.0042, $1.23, $120.
export function fmtCost(usd) {
  if (usd === null || usd === undefined || Number.isNaN(usd)) return '—';
  if (usd === 0) return '$0';
  if (usd < 0.0001) return '<$0.0001';
  if (usd < 0.01) return '$' + usd.toFixed(4);
  if (usd < 100) return '$' + usd.toFixed(2);
  return '$' + Math.round(usd);
}

// shortID shortens a long id for display: 0a1b2c3d…
export function shortID(id, n = 8) {
  if (!id) return '';
  return id.length > n + 1 ? id.slice(0, n) + '…' : id;
}

// truncate cuts s to n characters with an ellipsis.
export function truncate(s, n) {
  if (!s) return '';
  const chars = Array.from(s);
  return chars.length > n ? chars.slice(0, n).join('') + '…' : s;
}

// oneLine collapses whitespace runs.
export function oneLine(s) {
  return (s || '').replace(/\s+/g, ' ').trim();
}

// totalTokens is input + output of a usage record (input already includes
// cached input under the OTel conventions).
export function totalTokens(u) {
  if (!u) return 0;
  return (u.input_tokens || 0) + (u.output_tokens || 0);
}

// cacheSplit splits a usage record's input tokens by cache use. Input
// includes cached input (the OTel conventions); when it is smaller than
// the cache figures it is taken as the uncached part (as pricing does).
export function cacheSplit(u) {
  const input = (u && u.input_tokens) || 0;
  const read = (u && u.cache_read_input_tokens) || 0;
  const write = (u && u.cache_creation_input_tokens) || 0;
  const includes = input >= read + write;
  return {input: includes ? input : input + read + write, uncached: includes ? input - read - write : input, read, write};
}

// fmtInput renders a usage record's input tokens with their cache split:
// "101k in (100k cached)", "18.4k in (18.4k cache write)",
// "20.1k in (19.8k cached, 310 cache write)", "950 in".
export function fmtInput(u) {
  const c = cacheSplit(u);
  const cache = [c.read ? `${fmtTokens(c.read)} cached` : '', c.write ? `${fmtTokens(c.write)} cache write` : ''].filter(Boolean);
  return `${fmtTokens(c.input)} in` + (cache.length ? ` (${cache.join(', ')})` : '');
}

// usageTitle describes a usage record in full, for a tooltip.
export function usageTitle(u) {
  if (!u) return 'no usage reported';
  const c = cacheSplit(u);
  const parts = [
    `input ${fmtInt(c.input)}`,
    `output ${fmtInt(u.output_tokens || 0)}`,
  ];
  if (c.read || c.write) parts.push(`of the input: uncached ${fmtInt(c.uncached)}, cache read ${fmtInt(c.read)}, cache write ${fmtInt(c.write)}`);
  if (u.reasoning_tokens) parts.push(`reasoning ${fmtInt(u.reasoning_tokens)}`);
  return parts.join(' · ') + ' tokens';
}

// prettyJSON pretty-prints JSON text, or returns it unchanged when it is
// not JSON.
export function prettyJSON(text) {
  if (typeof text !== 'string') return JSON.stringify(text, null, 2);
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return text;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return text;
  }
}
