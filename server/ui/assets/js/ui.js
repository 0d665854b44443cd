// Shared pieces of the interface: the error banner, status badges, token
// and cost figures, dialogs.

import {h, replace, icon} from './dom.js';
import {fmtTokens, fmtCost, fmtDuration, usageTitle, totalTokens, fmtRange, relTime, parseTime, fmtInput} from './format.js';

let bannerTimer = null;

// showError puts a message in the banner under the top bar. Errors are
// shown, never swallowed; the banner stays until dismissed or replaced.
export function showError(what, err) {
  const banner = document.getElementById('banner');
  const msg = err && err.message ? err.message : String(err || '');
  const field = err && err.field ? ` (field ${err.field})` : '';
  replace(banner,
    h('span', {class: 'banner-text'}, what + (msg ? ': ' + msg + field : '')),
    h('button', {type: 'button', class: 'banner-close', 'aria-label': 'Dismiss', on: {click: hideBanner}}, icon('close')));
  banner.hidden = false;
  banner.className = 'banner error';
  if (bannerTimer) clearTimeout(bannerTimer);
}

export function showNotice(text, ms = 4000) {
  const banner = document.getElementById('banner');
  replace(banner, h('span', {class: 'banner-text'}, text));
  banner.hidden = false;
  banner.className = 'banner notice';
  if (bannerTimer) clearTimeout(bannerTimer);
  bannerTimer = setTimeout(hideBanner, ms);
}

export function hideBanner() {
  const banner = document.getElementById('banner');
  banner.hidden = true;
  replace(banner);
}

export function loading(text = 'Loading…') {
  return h('div', {class: 'loading', role: 'status'}, h('span', {class: 'spinner', 'aria-hidden': 'true'}), text);
}

export function empty(text, ...more) {
  return h('div', {class: 'empty'}, h('p', null, text), ...more);
}

export function errorBox(what, err) {
  return h('div', {class: 'error-box', role: 'alert'},
    h('strong', null, what),
    h('p', null, err && err.message ? err.message : String(err)));
}

export function runningBadge(text = 'running', since = null) {
  const label = h('span', {class: 'running-label'}, text);
  const badge = h('span', {class: 'badge running', title: 'Still running: updates by itself'}, h('span', {class: 'pulse', 'aria-hidden': 'true'}), label);
  const t = since ? new Date(since).getTime() : NaN;
  if (!Number.isNaN(t) && t > 0) {
    badge.dataset.since = String(t);
    label.textContent = `${text} · ${fmtDuration(Math.max(0, Date.now() - t))}`;
    label.dataset.text = text;
  }
  return badge;
}

// Running badges with a start time show the time elapsed, refreshed every
// second while any is on the page.
setInterval(() => {
  for (const b of document.querySelectorAll('.badge.running[data-since]')) {
    const label = b.querySelector('.running-label');
    label.textContent = `${label.dataset.text} · ${fmtDuration(Math.max(0, Date.now() - Number(b.dataset.since)))}`;
  }
}, 1000);

// activeRange shows a period of activity (fmtRange), followed by how long
// ago it ended while that is recent (two weeks).
export function activeRange(from, to) {
  const end = parseTime(to);
  const recent = end && Date.now() - end.getTime() < 14 * 86400e3;
  return h('span', {class: 'active-range'}, fmtRange(from, to), recent ? h('span', {class: 'muted'}, ' · ', relTime(to)) : null);
}

export function errorBadge(n) {
  if (!n) return null;
  return h('span', {class: 'badge error', title: `${n} span${n === 1 ? '' : 's'} with an error status`}, n === 1 ? '1 error' : `${n} errors`);
}

export function statusBadge(status) {
  if (status === 'ERROR') return h('span', {class: 'badge error'}, 'error');
  return null;
}

// hasUsage reports whether a usage record holds any token count.
export function hasUsage(u) {
  return !!u && totalTokens(u) + (u.cache_read_input_tokens || 0) + (u.cache_creation_input_tokens || 0) + (u.reasoning_tokens || 0) > 0;
}

// tokens shows input (with its cache split) and output, the full
// breakdown as a tooltip.
export function tokens(u, opts = {}) {
  if (!hasUsage(u)) {
    return h('span', {class: 'tokens muted', title: 'no usage reported (yet)'}, '—');
  }
  const total = totalTokens(u);
  return h('span', {class: 'tokens', title: usageTitle(u)},
    opts.total ? fmtTokens(total) : [fmtInput(u), ' · ', fmtTokens(u.output_tokens || 0), ' out']);
}

// cost shows the cost weave-server computed for a usage figure (a call, a
// turn, a conversation, an agent): its cost_usd, with "≥" when some of its
// calls have no price (unpriced_count) and "—" when none has one or there
// is no usage. The server prices each call from its price table, unless
// the instrumentation reported the cost itself.
export function cost(u) {
  if (!u) return h('span', {class: 'cost muted', title: 'No usage reported (yet)'}, '—');
  const usd = u.cost_usd || 0;
  const unpriced = u.unpriced_count || 0;
  const calls = (n) => `${n} call${n === 1 ? '' : 's'}`;
  if (usd === 0 && unpriced > 0) {
    return h('span', {class: 'cost muted unpriced', title: `No price known for the model of ${calls(unpriced)} (see "?")`}, 'no price');
  }
  if (usd === 0) return h('span', {class: 'cost muted', title: 'No usage reported (yet)'}, '—');
  const title = unpriced > 0
    ? `At least this much: ${calls(unpriced)} of a model without a price are left out (see "?")`
    : 'Computed by weave-server at list price (or reported by the instrumentation); not a bill';
  return h('span', {class: 'cost', title}, (unpriced > 0 ? '≥ ' : '') + fmtCost(usd));
}

// scoreChips shows score summaries (a conversation's or an agent's): the
// mean of a number, the share of yes, the categories, with the count.
export function scoreChips(scores) {
  const names = Object.keys(scores || {}).sort();
  if (names.length === 0) return null;
  const fmt = (v) => (Math.round(v * 100) / 100).toString();
  return h('span', {class: 'score-chips'}, names.map((n) => {
    const s = scores[n];
    let v;
    if (s.data_type === 'boolean') v = s.share === undefined ? '' : Math.round(100 * s.share) + '% yes';
    else if (s.data_type === 'numeric') v = s.mean === undefined ? '' : fmt(s.mean);
    else v = Object.entries(s.categories || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c, k]) => `${c} ${k}`).join(', ');
    return h('span', {class: 'score-chip', dataset: {score: n}, title: `${n}: ${s.count} score${s.count === 1 ? '' : 's'}` +
      (s.data_type === 'numeric' && s.min !== undefined ? ` from ${fmt(s.min)} to ${fmt(s.max)}` : '')}, `${n} ${v} (${s.count})`);
  }));
}

// parseScoreFilter reads a score filter as typed ("helpfulness >= 4",
// "score.correct = true", "tone = friendly", "has helpfulness", "no
// helpfulness") into the API's filter, or null.
export function parseScoreFilter(text) {
  const t = String(text || '').trim();
  let m = /^(has|no)\s+(?:score\.)?(\S+)$/i.exec(t);
  if (m) return {field: 'score.' + m[2], op: m[1].toLowerCase() === 'has' ? 'exists' : 'not_exists'};
  m = /^(?:score\.)?([^\s<>=!]+)\s*(>=|<=|!=|==|=|>|<)\s*(.+)$/.exec(t);
  if (!m) return null;
  const ops = {'>=': 'gte', '<=': 'lte', '!=': 'neq', '==': 'eq', '=': 'eq', '>': 'gt', '<': 'lt'};
  let v = m[3].trim().replace(/^"(.*)"$/, '$1');
  if (v === 'true' || v === 'yes') v = true;
  else if (v === 'false' || v === 'no') v = false;
  else if (v !== '' && Number.isFinite(Number(v))) v = Number(v);
  return {field: 'score.' + m[1], op: ops[m[2]], value: v};
}

// dialog opens a modal <dialog> with content; Escape or the close button
// closes it and focus returns where it was.
export function dialog(title, ...content) {
  const prev = document.activeElement;
  const d = h('dialog', {class: 'dialog', 'aria-label': title},
    h('div', {class: 'dialog-head'},
      h('h2', null, title),
      h('button', {type: 'button', class: 'icon-button', 'aria-label': 'Close', on: {click: () => d.close()}}, icon('close'))),
    h('div', {class: 'dialog-body'}, ...content));
  d.addEventListener('close', () => {
    d.remove();
    if (prev && prev.focus) prev.focus();
  });
  document.body.appendChild(d);
  d.showModal();
  return d;
}

// confirmDelete asks before deleting for good: what, why it cannot be
// undone, and a button that runs del (a promise); done runs after it
// succeeded. Errors are shown in the dialog.
export function confirmDelete(title, text, del, done) {
  const status = h('p', {class: 'muted', role: 'status'});
  const go = h('button', {type: 'button', class: 'button danger'}, 'Delete');
  const cancel = h('button', {type: 'button', class: 'button'}, 'Cancel');
  const d = dialog(title, h('p', null, text),
    h('p', {class: 'muted'}, 'This cannot be undone. If an agent sends the same data again later, it is stored again (it is new data).'),
    status, h('div', {class: 'dialog-actions'}, cancel, go));
  cancel.addEventListener('click', () => d.close());
  go.addEventListener('click', async () => {
    go.disabled = cancel.disabled = true;
    status.textContent = 'Deleting…';
    try {
      const resp = await del();
      const x = (resp && resp.deleted) || {};
      status.textContent = `Deleted ${x.spans || 0} spans.`;
      d.close();
      if (done) done(x);
    } catch (err) {
      go.disabled = cancel.disabled = false;
      status.textContent = 'Could not delete: ' + (err && err.message ? err.message : String(err));
    }
  });
  go.focus();
  return d;
}

export function helpDialog() {
  const row = (keys, what) => h('tr', null, h('td', null, keys.map((k) => h('kbd', null, k))), h('td', null, what));
  dialog('Keyboard shortcuts',
    h('table', {class: 'keys'}, h('tbody', null,
      row(['/'], 'Search (the page\'s search box, or message search)'),
      row(['j', '↓'], 'Next item (conversation, hit, agent, span, turn)'),
      row(['k', '↑'], 'Previous item'),
      row(['Enter'], 'Open the selected item; expand a tool call'),
      row(['Esc'], 'Close: dialog, expanded tool call, details; leave a search box'),
      row(['g', 'c'], 'Go to conversations'),
      row(['g', 'a'], 'Go to agents'),
      row(['t'], 'Switch light / dark theme'),
      row(['?'], 'This help'))),
    h('h3', null, 'Cost'),
    h('p', null, 'weave-server prices every model call when it arrives, from its price table: list prices per million tokens of input, output, cache reads and 5-minute and 1-hour cache writes (Anthropic, OpenAI, Google), with the dates each applied; the server\'s --prices file adds or overrides models. A cost the instrumentation reported itself wins. Costs are in US dollars at list price, not a bill (subscriptions and negotiated rates are not known). “no price” marks a call of a model the table does not know, “≥” a total that leaves such calls out.'));
}
