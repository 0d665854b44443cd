// Agents: every agent with its invocations, tokens, errors, durations and
// versions, and a chart of activity over time; one agent's page adds its
// versions and its own charts.

import {h, replace} from '../dom.js';
import {post, isAbort, refs} from '../api.js';
import * as feedback from '../feedback.js';
import * as route from '../route.js';
import {fmtInt, fmtTokens, fmtDuration, relTime, fmtTime, parseTime, cacheSplit} from '../format.js';
import {loading, empty, errorBox, activeRange, tokens, cost, scoreChips} from '../ui.js';
import {stackedBars, fillBuckets, bucketWidthLabel} from '../chart.js';

const RANGES = [
  {id: '24h', label: 'Last 24 hours', ms: 86400e3},
  {id: '7d', label: 'Last 7 days', ms: 7 * 86400e3},
  {id: '30d', label: 'Last 30 days', ms: 30 * 86400e3},
  {id: 'all', label: 'All time', ms: 0},
];

const TOP_SERIES = 7;

function avgDuration(a) {
  return a.invocation_count > 0 ? a.total_duration_ms / a.invocation_count : null;
}

// window returns [from, to] in ms for a range id, given the data's extent.
function windowFor(rangeID, firstSeen, lastSeen) {
  const now = Date.now();
  const r = RANGES.find((x) => x.id === rangeID) || RANGES[3];
  if (r.ms) return [now - r.ms, now];
  const from = firstSeen ?? now - 86400e3;
  const to = Math.max((lastSeen ?? now) + 1000, from + 60e3);
  return [from, to];
}

async function metrics(agentName, from, to, signal) {
  const body = {project_id: route.project(), from: new Date(from).toISOString(), to: new Date(to).toISOString()};
  if (agentName) body.agent_name = agentName;
  return post('/genai/agents/metrics', body, signal);
}

export function render(main, ctx) {
  if (ctx.segments.length === 2) return renderAgent(main, ctx);
  return renderList(main, ctx);
}

function rangeSelect(current, onChange) {
  const sel = h('select', {class: 'input', 'aria-label': 'Time range', id: 'agents-range'},
    RANGES.map((r) => h('option', {value: r.id, selected: r.id === current}, r.label)));
  sel.addEventListener('change', () => onChange(sel.value));
  return sel;
}

function renderList(main, {params, signal}) {
  document.title = 'Agents · weave';
  main.dataset.navArrows = 'true';
  const range = params.get('range') || 'all';
  const chartEl = h('div', {class: 'chart-box'}, loading());
  const tableEl = h('div', {class: 'list-body'}, loading());
  main.append(
    h('div', {class: 'page-head'}, h('h1', null, 'Agents'),
      h('div', {class: 'filters'}, rangeSelect(range, (v) => route.go(route.link.agents({range: v}))))),
    h('h2', {class: 'section-title'}, 'Invocations over time'),
    chartEl,
    tableEl);

  (async () => {
    let resp;
    try {
      resp = await post('/genai/agents/query', {project_id: route.project(), limit: 1000}, signal);
    } catch (err) {
      if (isAbort(err)) return;
      replace(tableEl, errorBox('Could not load agents', err));
      replace(chartEl);
      return;
    }
    const agents = resp.agents || [];
    if (agents.length === 0) {
      replace(chartEl);
      replace(tableEl, empty(`No agents in project ${route.project()} yet.`,
        h('p', null, 'Agents appear here once spans with gen_ai.agent.name (or an invoke_agent span) arrive.')));
      return;
    }
    replace(tableEl, h('table', {class: 'table agents-table'},
      h('thead', null, h('tr', null,
        h('th', null, 'Agent'), h('th', {class: 'num'}, 'Invocations'), h('th', {class: 'num'}, 'Spans'),
        h('th', {class: 'num'}, 'Errors'), h('th', {class: 'num'}, 'Tokens'), h('th', {class: 'num'}, 'Cost'), h('th', {class: 'num'}, 'Avg duration'),
        h('th', {class: 'num'}, 'Versions'), h('th', null, 'Scores'), h('th', {class: 'when'}, 'Last seen'))),
      h('tbody', null, agents.map((a) => h('tr', {'data-nav-item': true, tabindex: '-1', dataset: {agent: a.agent_name}},
        h('td', null, h('a', {href: route.link.agent(a.agent_name), 'data-nav-open': true, class: 'agent-link'}, a.agent_name || '(unnamed)')),
        h('td', {class: 'num'}, fmtInt(a.invocation_count)),
        h('td', {class: 'num'}, fmtInt(a.span_count)),
        h('td', {class: ['num', a.error_count > 0 && 'error-text']}, fmtInt(a.error_count),
          a.span_count ? h('span', {class: 'muted'}, ` (${((100 * a.error_count) / a.span_count).toFixed(a.error_count ? 1 : 0)}%)`) : null),
        h('td', {class: 'num'}, tokens(a)),
        h('td', {class: 'num'}, cost(a)),
        h('td', {class: 'num'}, avgDuration(a) === null ? '—' : fmtDuration(avgDuration(a))),
        h('td', {class: 'num'}, fmtInt(a.version_count)),
        h('td', {class: 'col-scores'}, scoreChips(a.scores)),
        h('td', {class: 'when', title: fmtTime(a.last_seen)}, relTime(a.last_seen)))))));

    const first = Math.min(...agents.map((a) => parseTime(a.first_seen)?.getTime() ?? Infinity));
    const last = Math.max(...agents.map((a) => parseTime(a.last_seen)?.getTime() ?? -Infinity));
    const [from, to] = windowFor(range, Number.isFinite(first) ? first : null, Number.isFinite(last) ? last : null);
    let m;
    try {
      m = await metrics('', from, to, signal);
    } catch (err) {
      if (isAbort(err)) return;
      replace(chartEl, errorBox('Could not load activity', err));
      return;
    }
    const width = (m.bucket_seconds || 3600) * 1000;
    const totals = new Map();
    for (const r of m.buckets || []) totals.set(r.agent_name, (totals.get(r.agent_name) || 0) + r.invocation_count + (r.invocation_count ? 0 : r.span_count * 1e-9));
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
    const top = new Set(ranked.slice(0, TOP_SERIES));
    const series = ranked.slice(0, TOP_SERIES).map((k) => ({key: k, label: k || '(no agent)'}));
    if (ranked.length > TOP_SERIES) series.push({key: '\u0000other', label: `${ranked.length - TOP_SERIES} others`});
    const buckets = fillBuckets(m.buckets || [], from, to, width,
      (r) => (top.has(r.agent_name) ? r.agent_name : '\u0000other'), (r) => r.invocation_count);
    const anyActivity = buckets.some((b) => Object.values(b.values).some((v) => v > 0));
    replace(chartEl, anyActivity
      ? stackedBars(buckets, series, {title: 'Agent invocations over time', width, format: (n) => fmtInt(Math.round(n)), legend: true, integer: true,
        caption: `Invocations per ${bucketWidthLabel(width)} bucket`})
      : empty('No agent invocations in this time range.'));
  })();
}

function renderAgent(main, {segments, params, signal}) {
  const name = segments[1];
  document.title = name + ' · Agents · weave';
  const range = params.get('range') || 'all';
  const statsEl = h('div', {class: 'conv-stats'}, loading());
  const chartsEl = h('div', {class: 'chart-grid'});
  const versionsEl = h('div', {class: 'list-body'});
  main.dataset.navArrows = 'true';
  main.append(
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: route.link.agents()}, 'Agents'), ' / ', name),
    h('div', {class: 'page-head'}, h('h1', null, name),
      feedback.widget(refs.agent(name), `agent ${name}`),
      h('div', {class: 'filters'},
        h('a', {class: 'button', href: route.link.conversations({agent: name})}, 'Conversations with this agent'),
        rangeSelect(range, (v) => route.go(route.link.agent(name, {range: v}))))),
    statsEl, chartsEl,
    h('h2', {class: 'section-title'}, 'Versions'), versionsEl);

  feedback.load([refs.agent(name)], signal);
  (async () => {
    let agent;
    let versions;
    try {
      const [list, vs] = await Promise.all([
        post('/genai/agents/query', {project_id: route.project(), limit: 1000}, signal),
        post('/genai/agents/versions', {project_id: route.project(), agent_name: name}, signal),
      ]);
      agent = (list.agents || []).find((a) => a.agent_name === name);
      versions = vs.versions || [];
    } catch (err) {
      if (isAbort(err)) return;
      replace(statsEl, errorBox('Could not load the agent', err));
      return;
    }
    if (!agent) {
      replace(statsEl, empty(`No agent named “${name}” in project ${route.project()}.`));
      return;
    }
    replace(statsEl,
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Invocations'), fmtInt(agent.invocation_count)),
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Spans'), fmtInt(agent.span_count)),
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Errors'), h('span', {class: agent.error_count ? 'error-text' : ''}, fmtInt(agent.error_count))),
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Tokens'), tokens(agent)),
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Cost'), cost(agent)),
      agent.scores ? h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Scores'), scoreChips(agent.scores)) : null,
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Avg duration'), avgDuration(agent) === null ? '—' : fmtDuration(avgDuration(agent))),
      h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Seen'), activeRange(agent.first_seen, agent.last_seen)));
    replace(versionsEl, versions.length === 0 ? empty('No versions recorded.') : h('table', {class: 'table'},
      h('thead', null, h('tr', null, h('th', null, 'Version'), h('th', {class: 'num'}, 'Invocations'), h('th', {class: 'num'}, 'Spans'),
        h('th', {class: 'num'}, 'Errors'), h('th', {class: 'num'}, 'Tokens'), h('th', {class: 'num'}, 'Cost'), h('th', {class: 'num'}, 'Avg duration'),
        h('th', {class: 'when'}, 'First seen'), h('th', {class: 'when'}, 'Last seen'))),
      h('tbody', null, versions.map((v) => h('tr', {'data-nav-item': true, tabindex: '-1'},
        h('td', null, v.agent_version ? h('code', null, v.agent_version) : h('span', {class: 'muted'}, '(no version)')),
        h('td', {class: 'num'}, fmtInt(v.invocation_count)),
        h('td', {class: 'num'}, fmtInt(v.span_count)),
        h('td', {class: ['num', v.error_count > 0 && 'error-text']}, fmtInt(v.error_count)),
        h('td', {class: 'num'}, tokens(v)),
        h('td', {class: 'num'}, cost(v)),
        h('td', {class: 'num'}, avgDuration(v) === null ? '—' : fmtDuration(avgDuration(v))),
        h('td', {class: 'when', title: fmtTime(v.first_seen)}, relTime(v.first_seen)),
        h('td', {class: 'when', title: fmtTime(v.last_seen)}, relTime(v.last_seen)))))));

    const [from, to] = windowFor(range, parseTime(agent.first_seen)?.getTime() ?? null, parseTime(agent.last_seen)?.getTime() ?? null);
    let m;
    try {
      m = await metrics(name, from, to, signal);
    } catch (err) {
      if (isAbort(err)) return;
      replace(chartsEl, errorBox('Could not load activity', err));
      return;
    }
    const width = (m.bucket_seconds || 3600) * 1000;
    const rows = m.buckets || [];
    const one = (key, valueOf) => fillBuckets(rows, from, to, width, () => key, valueOf);
    // Input tokens stacked by cache use (input includes cached input);
    // output tokens on a chart of their own, where their scale shows them.
    const input = fillBuckets(rows, from, to, width, () => '', () => 0).map((b) => ({start: b.start, values: {uncached: 0, read: 0, write: 0}}));
    const at = new Map(input.map((b, i) => [b.start, i]));
    for (const r of rows) {
      const b = input[at.get(new Date(r.start).getTime())];
      if (!b) continue;
      const c = cacheSplit(r);
      b.values.uncached += c.uncached;
      b.values.read += c.read;
      b.values.write += c.write;
    }
    const fmtN = (n) => fmtInt(Math.round(n));
    const chart = (title, el) => h('div', null, h('h2', {class: 'section-title'}, title), el);
    replace(chartsEl,
      chart('Invocations', stackedBars(one('n', (r) => r.invocation_count), [{key: 'n', label: 'invocations'}], {title: `${name} invocations over time`, width, format: fmtN, integer: true})),
      chart('Errors', stackedBars(one('n', (r) => r.error_count), [{key: 'n', label: 'spans with an error'}], {title: `${name} error spans over time`, width, format: fmtN, errors: true, integer: true})),
      chart('Input tokens', stackedBars(input, [{key: 'uncached', label: 'uncached'}, {key: 'read', label: 'cache read'}, {key: 'write', label: 'cache write'}],
        {title: `${name} input tokens over time, by cache use`, width, format: fmtTokens})),
      chart('Output tokens', stackedBars(one('n', (r) => r.output_tokens || 0), [{key: 'n', label: 'output tokens'}], {title: `${name} output tokens over time`, width, format: fmtTokens})),
      chart('Average duration', stackedBars(one('n', (r) => r.avg_duration_ms || 0), [{key: 'n', label: 'average invocation duration'}], {title: `${name} average duration over time`, width, format: (n) => fmtDuration(n)})));
  })();
}
