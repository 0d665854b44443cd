// The chat view of one turn: the user's prompt, assistant messages rendered
// as markdown, tool calls collapsed to one line (expandable to their full
// arguments and result), subagents as indented sections with their own
// messages and tools, context compactions, and errors in plain sight.
// Every figure (tokens, duration, cost) is per call; turn totals are in the
// turn header.

import {h, icon} from './dom.js';
import {renderMarkdown} from './markdown.js';
import {fmtDuration, fmtTokens, prettyJSON, truncate, oneLine, fmtTime, fmtInt} from './format.js';
import {cost, runningBadge, tokens, hasUsage} from './ui.js';
import {widget, summary} from './feedback.js';
import {refs} from './api.js';
import * as route from './route.js';

const RESULT_PREVIEW = 20_000;
const PROMPT_PREVIEW = 3_000;

// keyArgument picks the one argument that says what a tool call did.
const KEY_ARGS = {
  Bash: ['command'],
  Read: ['file_path'],
  Write: ['file_path'],
  Edit: ['file_path'],
  MultiEdit: ['file_path'],
  NotebookEdit: ['notebook_path'],
  NotebookRead: ['notebook_path'],
  Glob: ['pattern', 'path'],
  Grep: ['pattern', 'path'],
  LS: ['path'],
  WebFetch: ['url'],
  WebSearch: ['query'],
  Agent: ['description', 'subagent_type'],
  Task: ['description', 'subagent_type'],
  Skill: ['skill', 'command'],
  SlashCommand: ['command'],
  BashOutput: ['bash_id'],
  KillShell: ['shell_id'],
  KillBash: ['shell_id'],
  ExitPlanMode: ['plan'],
};
const COMMON_KEYS = ['command', 'file_path', 'path', 'pattern', 'query', 'url', 'description', 'prompt', 'name', 'input', 'q', 'text'];

export function keyArgument(toolName, argsText) {
  if (!argsText) return '';
  let args;
  try {
    args = JSON.parse(argsText);
  } catch {
    return oneLine(argsText);
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return oneLine(String(argsText));
  if (toolName === 'TodoWrite' && Array.isArray(args.todos)) {
    const doing = args.todos.find((t) => t && t.status === 'in_progress');
    return `${args.todos.length} todo${args.todos.length === 1 ? '' : 's'}` + (doing && doing.content ? ` · ${oneLine(doing.content)}` : '');
  }
  for (const k of KEY_ARGS[toolName] || []) {
    if (typeof args[k] === 'string' && args[k]) return oneLine(args[k]);
  }
  for (const k of COMMON_KEYS) {
    if (typeof args[k] === 'string' && args[k]) return oneLine(args[k]);
  }
  for (const v of Object.values(args)) {
    if (typeof v === 'string' && v) return oneLine(v);
  }
  const compact = JSON.stringify(args);
  return compact === '{}' ? '' : oneLine(compact);
}

// toolDescription returns the description a tool call carries in its
// arguments (Claude Code's Bash has one), or "".
export function toolDescription(argsText) {
  try {
    const a = JSON.parse(argsText || '');
    return a && typeof a === 'object' && typeof a.description === 'string' ? oneLine(a.description) : '';
  } catch {
    return '';
  }
}

// collapsible shows long text cut, with a button revealing the rest.
function longText(textValue, limit, cls) {
  const pre = h('pre', {class: cls});
  if (textValue.length <= limit) {
    pre.textContent = textValue;
    return pre;
  }
  pre.textContent = textValue.slice(0, limit) + '…';
  const more = h('button', {type: 'button', class: 'link-button show-all'}, `Show all ${fmtInt(textValue.length)} characters`);
  more.addEventListener('click', () => {
    pre.textContent = textValue;
    more.remove();
  });
  return h('div', {class: 'long-text'}, pre, more);
}

// saysAlready reports whether a status message only repeats the text
// shown (a tool's status message is often the first line of its result,
// cut with "…").
export function saysAlready(shown, message) {
  const core = oneLine(message).replace(/\s*(…|\.\.\.)$/, '');
  return core === '' || oneLine(shown).includes(core);
}

function errorLine(m) {
  if (m.status !== 'ERROR' && !m.error_type) return null;
  const what = [m.error_type, m.status_message].filter(Boolean).join(': ');
  return h('div', {class: 'msg-error', role: 'note'}, h('strong', null, 'Error'), what ? ' ' + truncate(what, 600) : '');
}

function meta(...parts) {
  return h('div', {class: 'msg-meta'}, parts.filter(Boolean).map((p) => h('span', {class: 'meta-item'}, p)));
}

function spanLink(traceID, spanID, label = 'span') {
  return h('a', {href: route.link.trace(traceID, {span: spanID}), class: 'muted span-link', title: 'Open this span in the trace view'}, label);
}

function userMessage(m) {
  const text = m.text || '';
  return h('div', {class: 'msg user', dataset: {span: m.span_id, type: m.type}},
    h('div', {class: 'msg-head'}, h('span', {class: 'who'}, 'User'), h('span', {class: 'muted', title: fmtTime(m.started_at)}, fmtTime(m.started_at).slice(11))),
    longText(text, PROMPT_PREVIEW, 'user-text'));
}

function assistantMessage(m, traceID) {
  const metaEl = meta(
    hasUsage(m.usage) ? tokens(m.usage) : null,
    m.usage ? cost(m.usage) : null,
    m.running ? null : fmtDuration(m.duration_ms),
    spanLink(traceID, m.span_id));
  const onlyTools = !m.text && !m.reasoning && !m.running && m.status !== 'ERROR' && m.tool_calls && m.tool_calls.length;
  if (onlyTools) {
    // A call whose whole output is tool requests: one quiet line; the tool
    // calls follow.
    return h('div', {class: 'msg assistant compact', dataset: {span: m.span_id, type: m.type}},
      h('div', {class: 'msg-head'},
        h('span', {class: 'who'}, m.agent_name || 'Assistant'),
        h('span', {class: 'muted'}, 'called ', m.tool_calls.map((t, i) => [i ? ', ' : '', h('code', null, t.name)])),
        m.model ? h('span', {class: 'model'}, m.model) : null,
        h('span', {class: 'spacer'}),
        metaEl,
        widget(refs.span(m.span_id), `message from ${m.agent_name || 'assistant'}`, {compact: true, traceID})));
  }
  const body = h('div', {class: 'msg-body'});
  if (m.reasoning) {
    body.append(h('details', {class: 'reasoning'},
      h('summary', null, 'Thinking', m.usage && m.usage.reasoning_tokens ? ` · ${fmtTokens(m.usage.reasoning_tokens)} tokens` : ''),
      h('div', {class: 'reasoning-text'}, renderMarkdown(m.reasoning))));
  }
  if (m.text) {
    body.append(h('div', {class: 'markdown'}, renderMarkdown(m.text)));
  } else if (m.running) {
    body.append(h('p', {class: 'muted'}, 'Generating…'));
  } else if (m.tool_calls && m.tool_calls.length) {
    body.append(h('p', {class: 'muted tool-request'}, 'Called ', m.tool_calls.map((t, i) => [i ? ', ' : '', h('code', null, t.name)])));
  }
  const finish = (m.finish_reasons || []).filter((r) => !['stop', 'end_turn', 'tool_use', 'tool_calls', 'tool_call'].includes(r));
  return h('div', {class: ['msg', 'assistant', m.status === 'ERROR' && 'is-error', m.running && 'is-running'], dataset: {span: m.span_id, type: m.type}},
    h('div', {class: 'msg-head'},
      h('span', {class: 'who'}, m.agent_name || 'Assistant'),
      m.model ? h('span', {class: 'model'}, m.model) : null,
      m.running ? runningBadge() : null,
      finish.length ? h('span', {class: 'finish badge', title: 'finish reason'}, finish.join(', ')) : null,
      h('span', {class: 'spacer'}),
      metaEl,
      widget(refs.span(m.span_id), `message from ${m.agent_name || 'assistant'}`, {compact: true, traceID})),
    errorLine(m),
    body);
}

function toolCall(m, traceID) {
  const key = keyArgument(m.tool_name, m.tool_arguments);
  const desc = toolDescription(m.tool_arguments);
  const isErr = m.status === 'ERROR' || !!m.error_type;
  const state = m.running ? 'running' : isErr ? 'error' : 'ok';
  const stateIcon = m.running
    ? h('span', {class: 'spinner small', 'aria-label': 'running'})
    : h('span', {class: 'tool-state ' + state, 'aria-label': isErr ? 'failed' : 'succeeded'}, isErr ? '✗' : '✓');
  const toggle = h('button', {type: 'button', class: 'tool-toggle', 'aria-expanded': 'false'},
    h('span', {class: 'chev', 'aria-hidden': 'true'}, icon('chevron')),
    stateIcon,
    h('span', {class: 'tool-name'}, m.tool_name || 'tool'),
    key ? h('span', {class: 'tool-key', title: key.length > 120 ? truncate(key, 2000) : null}, truncate(key, 160)) : null,
    desc && desc !== key ? h('span', {class: 'tool-desc'}, truncate(desc, 80)) : null,
    h('span', {class: 'spacer'}),
    // Feedback given on the call shows on the collapsed line too.
    summary(refs.span(m.span_id)),
    m.error_type ? h('span', {class: 'tool-errtype'}, m.error_type) : null,
    h('span', {class: 'tool-dur'}, m.running ? 'running' : fmtDuration(m.duration_ms)));
  const detail = h('div', {class: 'tool-detail', hidden: true});
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const args = m.tool_arguments ? prettyJSON(m.tool_arguments) : '';
    const result = m.tool_result ? prettyJSON(m.tool_result) : '';
    detail.append(
      h('div', {class: 'tool-section'}, h('div', {class: 'label'}, 'Arguments'),
        args ? longText(args, RESULT_PREVIEW, 'code-block tool-args') : h('p', {class: 'muted'}, 'none recorded')),
      h('div', {class: 'tool-section'}, h('div', {class: 'label'}, isErr ? 'Result (error)' : 'Result'),
        result ? longText(result, RESULT_PREVIEW, ['code-block tool-result', isErr && 'is-error'].filter(Boolean).join(' '))
          : m.status_message ? longText(m.status_message, RESULT_PREVIEW, 'code-block tool-result is-error')
            : h('p', {class: 'muted'}, m.running ? 'not finished yet' : 'none recorded')),
      h('div', {class: 'tool-foot'},
        result && m.status_message && !saysAlready(result, m.status_message) ? h('span', {class: 'error-text'}, m.status_message) : null,
        m.tool_call_id ? h('span', {class: 'muted mono', title: 'tool call id'}, m.tool_call_id) : null,
        m.tool_type ? h('span', {class: 'muted'}, m.tool_type) : null,
        h('span', {class: 'muted', title: fmtTime(m.started_at)}, 'started ' + fmtTime(m.started_at).slice(11)),
        spanLink(traceID, m.span_id, 'open span'),
        widget(refs.span(m.span_id), `tool call ${m.tool_name}`, {compact: true, traceID})));
  };
  const set = (open) => {
    if (open) build();
    detail.hidden = !open;
    // The error line stands in for the result while collapsed; expanded,
    // the result shows it (once).
    if (errPreview) errPreview.hidden = open;
    toggle.setAttribute('aria-expanded', String(open));
    row.classList.toggle('open', open);
  };
  toggle.addEventListener('click', () => set(detail.hidden));
  // Errors in plain sight: the failure shows without expanding.
  let errPreview = null;
  if (isErr) {
    const why = m.status_message || (m.tool_result ? oneLine(m.tool_result) : '');
    errPreview = h('div', {class: 'tool-error-line'}, truncate(why || 'failed', 300));
  }
  const row = h('div', {class: ['tool', state], dataset: {span: m.span_id, type: m.type, tool: m.tool_name}},
    toggle, errPreview, detail);
  row.setOpen = set;
  row.searchText = (m.tool_name || '') + '\n' + (m.tool_arguments || '') + '\n' + (m.tool_result || '') + '\n' + (m.status_message || '');
  return row;
}

function compaction(m) {
  const parts = [];
  if (m.compaction_trigger) parts.push(m.compaction_trigger);
  if (m.compaction_items_before || m.compaction_items_after) parts.push(`${fmtInt(m.compaction_items_before)} → ${fmtInt(m.compaction_items_after)} messages`);
  if (m.compaction_pre_tokens) parts.push(`${fmtTokens(m.compaction_pre_tokens)} tokens before`);
  const el = h('div', {class: 'compaction', dataset: {span: m.span_id, type: m.type}, role: 'separator'},
    h('div', {class: 'compaction-line'}, h('span', {class: 'compaction-label'}, 'Context compacted'), parts.length ? h('span', {class: 'muted'}, parts.join(' · ')) : null));
  if (m.compaction_summary) {
    el.append(h('details', {class: 'compaction-summary'}, h('summary', null, 'Summary'), h('div', {class: 'markdown'}, renderMarkdown(m.compaction_summary))));
  }
  return el;
}

function agentLine(m) {
  // The turn's own agent: one quiet line (name, model, version, system
  // instructions on demand).
  return h('div', {class: 'agent-line', dataset: {span: m.span_id, type: m.type}},
    h('span', {class: 'agent-name'}, m.agent_name),
    m.model ? h('span', {class: 'model'}, m.model) : null,
    m.agent_version ? h('span', {class: 'muted'}, 'v' + m.agent_version) : null,
    m.status === 'ERROR' ? h('span', {class: 'badge error'}, 'error') : null,
    m.system_instructions ? h('details', {class: 'sysinstr'}, h('summary', null, 'System instructions'),
      longText(m.system_instructions, PROMPT_PREVIEW, 'code-block')) : null);
}

function subagentSection(m, traceID, sums) {
  const body = h('div', {class: 'subagent-body'});
  const toggle = h('button', {type: 'button', class: 'subagent-toggle', 'aria-expanded': 'true', title: 'Collapse or expand this subagent'},
    h('span', {class: 'chev', 'aria-hidden': 'true'}, icon('chevron')));
  const stats = h('span', {class: 'subagent-stats'});
  const section = h('section', {class: ['subagent', m.status === 'ERROR' && 'is-error', m.running && 'is-running'], dataset: {span: m.span_id, type: m.type, agent: m.agent_name, depth: m.depth}},
    h('div', {class: 'subagent-head'},
      toggle,
      h('span', {class: 'subagent-kind'}, 'subagent'),
      h('span', {class: 'agent-name'}, m.agent_name),
      m.model ? h('span', {class: 'model'}, m.model) : null,
      m.running ? runningBadge() : null,
      m.status === 'ERROR' ? h('span', {class: 'badge error'}, 'error') : null,
      h('span', {class: 'spacer'}),
      stats,
      h('span', {class: 'meta-item'}, m.running ? '' : fmtDuration(m.duration_ms)),
      spanLink(traceID, m.span_id),
      widget(refs.span(m.span_id), `subagent ${m.agent_name}`, {compact: true, traceID})),
    errorLine(m),
    m.text ? h('div', {class: 'subagent-prompt'}, h('div', {class: 'label'}, 'Task'), longText(m.text, PROMPT_PREVIEW, 'user-text')) : null,
    m.system_instructions ? h('details', {class: 'sysinstr'}, h('summary', null, 'System instructions'), longText(m.system_instructions, PROMPT_PREVIEW, 'code-block')) : null,
    body);
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    section.classList.toggle('collapsed', !open);
  });
  sums.set(m.agent_span_id, {stats, usage: {input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, cost_usd: 0, unpriced_count: 0}, calls: 0, tools: 0});
  return {section, body};
}

// place appends a message's node to container; the calls of a parallel
// group (chat view parallel_group: tool calls and subagents of one agent
// whose time ranges overlapped) go together into one bracketed box that
// says how many ran at the same time (sizes: group → its calls in the
// turn, so a group another message splits still says how many ran).
function place(container, m, node, sizes) {
  if (!m.parallel_group) {
    container.append(node);
    return;
  }
  let box = container.lastElementChild;
  if (!box || !box.classList.contains('parallel') || box.dataset.group !== m.parallel_group) {
    box = h('div', {class: 'parallel', role: 'group', dataset: {group: m.parallel_group}},
      h('div', {class: 'parallel-head'}, h('span', {class: 'parallel-mark', 'aria-hidden': 'true'}, '⇉'), h('span', {class: 'parallel-label'})));
    container.append(box);
  }
  box.append(node);
  const n = sizes.get(m.parallel_group) || box.children.length - 1;
  const label = `${n} calls in parallel`;
  box.querySelector('.parallel-label').textContent = label;
  box.setAttribute('aria-label', label);
}

// renderMessages renders a turn's messages into a container, nesting
// subagents under the agent that started them.
export function renderMessages(turn) {
  const root = h('div', {class: 'chat'});
  const containers = new Map();
  const stack = [{depth: -1, el: root, id: ''}];
  const sums = new Map(); // subagent span id → running totals for its header
  const tid = turn.trace_id;
  const sizes = new Map(); // parallel group → its calls
  for (const m of turn.messages || []) {
    if (m.parallel_group) sizes.set(m.parallel_group, (sizes.get(m.parallel_group) || 0) + 1);
  }
  for (const m of turn.messages || []) {
    if (m.type === 'agent_start') {
      while (stack.length > 1 && stack[stack.length - 1].depth >= m.depth) stack.pop();
      if (m.depth === 0 || stack.length === 1 && m.depth === 0) {
        root.append(agentLine(m));
        containers.set(m.agent_span_id, root);
        stack.length = 1;
        stack.push({depth: 0, el: root, id: m.agent_span_id});
        continue;
      }
      const {section, body} = subagentSection(m, tid, sums);
      place(stack[stack.length - 1].el, m, section, sizes);
      containers.set(m.agent_span_id, body);
      stack.push({depth: m.depth, el: body, id: m.agent_span_id});
      continue;
    }
    let target = containers.get(m.agent_span_id);
    if (!target) {
      const s = [...stack].reverse().find((x) => x.depth <= m.depth);
      target = s ? s.el : root;
    }
    let node;
    switch (m.type) {
      case 'user_message':
        node = userMessage(m);
        break;
      case 'assistant_message':
        node = assistantMessage(m, tid);
        break;
      case 'tool_call':
        node = toolCall(m, tid);
        break;
      case 'context_compacted':
        node = compaction(m);
        break;
      default:
        node = h('div', {class: 'msg unknown', dataset: {span: m.span_id, type: m.type}}, h('span', {class: 'muted'}, m.type), ' ', m.text || '');
    }
    place(target, m, node, sizes);
    // Subagent header totals: this agent's calls (and nested agents').
    for (const s of stack) {
      const sum = sums.get(s.id);
      if (!sum || s.depth > m.depth) continue;
      if (m.type === 'assistant_message' && m.usage) {
        for (const k of Object.keys(sum.usage)) sum.usage[k] += m.usage[k] || 0;
        sum.calls++;
      }
      if (m.type === 'tool_call') sum.tools++;
    }
  }
  for (const sum of sums.values()) {
    sum.stats.append(
      h('span', {class: 'meta-item'}, `${sum.calls} call${sum.calls === 1 ? '' : 's'} · ${sum.tools} tool${sum.tools === 1 ? '' : 's'}`),
      sum.calls ? h('span', {class: 'meta-item'}, tokens(sum.usage)) : null,
      sum.calls ? h('span', {class: 'meta-item'}, cost(sum.usage)) : null);
  }
  if ((turn.messages || []).length === 0) {
    root.append(h('p', {class: 'muted'}, turn.running ? 'Waiting for the first message…' : 'This turn has no messages to show (its spans carry no content).'));
  }
  return root;
}

// highlightTerms wraps the query's words in <mark> inside el's text (not
// inside code blocks the user has not expanded). Text nodes are split, never
// re-parsed.
export function highlightTerms(el, query) {
  const terms = queryTerms(query);
  if (terms.length === 0) return 0;
  const re = new RegExp('(' + terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|') + ')', 'giu');
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement && n.parentElement.closest('button, mark, .tool-detail[hidden]') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  let count = 0;
  for (const n of nodes) {
    const parts = n.data.split(re);
    if (parts.length < 2) continue;
    const f = document.createDocumentFragment();
    parts.forEach((p, i) => {
      if (!p) return;
      if (i % 2 === 1) {
        f.append(h('mark', {class: 'hit'}, p));
        count++;
      } else {
        f.append(document.createTextNode(p));
      }
    });
    n.replaceWith(f);
  }
  return count;
}

// queryTerms splits a search query into its words and "phrases".
export function queryTerms(query) {
  const out = [];
  const q = String(query || '');
  const re = /"([^"]+)"|([\p{L}\p{N}_]+)/gu;
  let m;
  while ((m = re.exec(q))) {
    const t = (m[1] || m[2] || '').trim();
    if (t.length >= 2) out.push(t);
  }
  return out.slice(0, 20);
}
