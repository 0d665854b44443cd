// Metrics: the OTLP metrics senders export to /v1/metrics — first Claude
// Code's own (cost, tokens, sessions, active time), split by model, user or
// type — as totals and charts over time; every other metric below.

import {h, replace} from '../dom.js';
import {post, isAbort} from '../api.js';
import * as route from '../route.js';
import {fmtInt, fmtTokens, fmtCost, fmtDuration, parseTime} from '../format.js';
import {loading, empty, errorBox} from '../ui.js';
import {stackedBars, fillBuckets, bucketWidthLabel} from '../chart.js';

const RANGES = [
  {id: '24h', label: 'Last 24 hours', ms: 86400e3},
  {id: '7d', label: 'Last 7 days', ms: 7 * 86400e3},
  {id: '30d', label: 'Last 30 days', ms: 30 * 86400e3},
  {id: 'all', label: 'All time', ms: 0},
];

// SPLITS are what the charts can be split by ('' keeps each metric's own).
const SPLITS = [
  {id: '', label: 'Split: by metric'},
  {id: 'model', label: 'Split: model'},
  {id: 'user.email', label: 'Split: user'},
  {id: 'none', label: 'Split: none'},
];

// Claude Code's metrics, in page order: title, default split, formatter.
const KNOWN = [
  {name: 'claude_code.cost.usage', title: 'Cost', split: 'model', fmt: fmtCost},
  {name: 'claude_code.token.usage', title: 'Tokens', split: 'type', fmt: (n) => fmtTokens(Math.round(n))},
  {name: 'claude_code.session.count', title: 'Sessions', split: '', fmt: (n) => fmtInt(Math.round(n))},
  {name: 'claude_code.active_time.total', title: 'Active time', split: 'type', fmt: (n) => fmtDuration(n * 1000)},
  {name: 'claude_code.lines_of_code.count', title: 'Lines of code', split: 'type', fmt: (n) => fmtInt(Math.round(n))},
  {name: 'claude_code.commit.count', title: 'Commits', split: '', fmt: (n) => fmtInt(Math.round(n))},
  {name: 'claude_code.pull_request.count', title: 'Pull requests', split: '', fmt: (n) => fmtInt(Math.round(n))},
];

const TOP_SERIES = 7;
const MAX_CHARTS = 16;

function fmtNumber(n) {
  if (Math.abs(n) >= 1000) return fmtInt(Math.round(n));
  return String(Math.round(n * 1000) / 1000);
}

function select(id, label, options, current, onChange) {
  const sel = h('select', {class: 'input', 'aria-label': label, id},
    options.map((o) => h('option', {value: o.id, selected: o.id === current}, o.label)));
  sel.addEventListener('change', () => onChange(sel.value));
  return sel;
}

export function render(main, {params, signal}) {
  document.title = 'Metrics · weave';
  const range = params.get('range') || 'all';
  const split = params.get('split') || '';
  const go = (p) => route.go(route.link.metrics({range, split, ...p}));
  const statsEl = h('div', {class: 'conv-stats', id: 'metrics-totals'}, loading());
  const chartsEl = h('div', {class: 'chart-grid', id: 'metrics-charts'});
  main.append(
    h('div', {class: 'page-head'}, h('h1', null, 'Metrics'),
      h('div', {class: 'filters'},
        select('metrics-split', 'Split charts by', SPLITS, split, (v) => go({split: v})),
        select('metrics-range', 'Time range', RANGES, range, (v) => go({range: v})))),
    statsEl, chartsEl);

  (async () => {
    let list;
    try {
      list = await post('/genai/metrics/list', {project_id: route.project()}, signal);
    } catch (err) {
      if (isAbort(err)) return;
      replace(statsEl, errorBox('Could not load metrics', err));
      return;
    }
    const infos = list.metrics || [];
    if (infos.length === 0) {
      replace(statsEl, empty(`No metrics in project ${route.project()} yet.`,
        h('p', null, 'Metrics appear once an OpenTelemetry SDK exports to /v1/metrics — Claude Code does with ',
          h('code', null, 'CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_METRICS_EXPORTER=otlp'), ' (see the README, “Claude Code without hooks”).')));
      return;
    }
    const byName = new Map(infos.map((m) => [m.name, m]));
    const first = Math.min(...infos.map((m) => parseTime(m.first)?.getTime() ?? Infinity));
    const last = Math.max(...infos.map((m) => parseTime(m.last)?.getTime() ?? -Infinity));
    const r = RANGES.find((x) => x.id === range) || RANGES[3];
    const now = Date.now();
    const [from, to] = r.ms ? [now - r.ms, now] : [first, Math.max(last + 1000, first + 60e3)];
    const charts = [];
    for (const k of KNOWN) if (byName.has(k.name)) charts.push({...k, info: byName.get(k.name)});
    for (const m of infos) {
      if (!KNOWN.some((k) => k.name === m.name)) charts.push({name: m.name, title: m.name, split: '', fmt: fmtNumber, info: m});
    }
    const shown = charts.slice(0, MAX_CHARTS);
    const totals = [];
    replace(chartsEl, shown.map((c) => {
      const box = h('div', {class: 'chart-box', dataset: {metric: c.name}}, loading());
      const key = split === 'none' ? '' : (split || c.split);
      totals.push(chart(box, c, key, from, to, signal));
      return box;
    }));
    const results = await Promise.all(totals);
    if (signal.aborted) return;
    replace(statsEl, results.filter((x) => x && x.total !== null && KNOWN.some((k) => k.name === x.c.name)).map(({c, total}) =>
      h('span', {class: 'stat', dataset: {metric: c.name}}, h('span', {class: 'label'}, c.title), c.fmt(total))));
    if (charts.length > MAX_CHARTS) {
      chartsEl.append(h('p', {class: 'muted'}, `${charts.length - MAX_CHARTS} more metrics not shown.`));
    }
  })();
}

// chart fills box with one metric over [from, to] split by key, and
// resolves to its total.
async function chart(box, c, key, from, to, signal) {
  let res;
  try {
    res = await post('/genai/metrics/query', {project_id: route.project(), name: c.name, group_by: key ? [key] : [],
      from: new Date(from).toISOString(), to: new Date(to).toISOString(), limit: TOP_SERIES}, signal);
  } catch (err) {
    if (isAbort(err)) return null;
    replace(box, errorBox(`Could not load ${c.name}`, err));
    return null;
  }
  const width = (res.bucket_seconds || 3600) * 1000;
  const label = (s) => (key ? s.group[key] || `(no ${key})` : c.title);
  const series = (res.series || []).map((s) => ({key: label(s), label: label(s)}));
  if (res.total_series > series.length) series.push({key: '\u0000other', label: `${res.total_series - series.length} others not shown`});
  const rows = (res.series || []).flatMap((s) => s.buckets.map((b) => ({start: b.start, key: label(s), value: b.value})));
  const buckets = fillBuckets(rows, from, to, width, (x) => x.key, (x) => x.value);
  // Sums and counts add up across series; an average, min or max over
  // several series has no one figure.
  const additive = res.aggregation === 'sum' || res.aggregation === 'count';
  const total = additive || (res.series || []).length === 1 ? (res.series || []).reduce((a, s) => a + s.total, 0) : null;
  const unit = c.info.unit && c.info.unit.toLowerCase() !== c.title.toLowerCase() ? ` (${c.info.unit})` : '';
  const overall = total === null ? '' : [additive ? ' · total ' : ' · overall ', c.fmt(total)];
  replace(box,
    h('h2', {class: 'section-title'}, c.title + unit, h('span', {class: 'muted'}, ' · ', res.aggregation, overall)),
    rows.length ? stackedBars(buckets, series, {title: c.title, width, format: c.fmt, legend: Boolean(key),
      caption: `${c.name}, ${res.aggregation} per ${bucketWidthLabel(width)} bucket`}) : empty('No points in this time range.'));
  return {c, total};
}
