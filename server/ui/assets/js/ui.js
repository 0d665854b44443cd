// Shared pieces of the interface: the error banner, status badges, token
// and cost figures, dialogs.

import {h, replace, icon} from './dom.js';
import {fmtTokens, fmtCost, fmtDuration, usageTitle, totalTokens, fmtRange, relTime, parseTime, fmtInput} from './format.js';
import {PRICE_TABLE, PRICES_CHECKED} from './pricing.js';

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

// cost shows an Estimate (pricing.js), a [low, high] range, or a plain
// number of dollars (0: nothing to price).
export function cost(est) {
  if (est === null || est === undefined) {
    return h('span', {class: 'cost muted', title: 'No list price known for the model(s); see "?" for the price table'}, '—');
  }
  if (typeof est === 'number') {
    if (est === 0) return h('span', {class: 'cost muted', title: 'No usage reported'}, '—');
    est = [est, est];
  }
  if (Array.isArray(est)) {
    const [lo, hi] = est;
    if (Math.abs(hi - lo) < 0.005 || hi === 0) return h('span', {class: 'cost', title: 'Estimate at list price, not a bill'}, fmtCost(hi), h('span', {class: 'est'}, ' est.'));
    return h('span', {class: 'cost', title: 'Several models with different prices: the range spans the cheapest and dearest. Estimate at list price, not a bill.'},
      fmtCost(lo), '–', fmtCost(hi), h('span', {class: 'est'}, ' est.'));
  }
  if (est.priced === 0) {
    const why = est.known ? 'No usage reported (yet)' : 'No list price known for: ' + [...est.unknown].join(', ');
    return h('span', {class: 'cost muted', title: why}, '—');
  }
  const title = est.known
    ? 'Estimate at list price, not a bill'
    : 'Partial estimate: no list price for ' + [...est.unknown].join(', ');
  return h('span', {class: 'cost', title}, (est.known ? '' : '≥ ') + fmtCost(est.usd), h('span', {class: 'est'}, ' est.'));
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
    h('h3', null, 'Cost estimates'),
    h('p', null, `Costs are estimates at list price (checked ${PRICES_CHECKED}), in US dollars per million tokens, not a bill: subscriptions, batch discounts and long-context surcharges are not modelled. Models without a price show “—”.`),
    h('table', {class: 'prices'},
      h('thead', null, h('tr', null, h('th', null, 'model'), h('th', null, 'input'), h('th', null, 'cache read'), h('th', null, 'cache write'), h('th', null, 'output'))),
      h('tbody', null, PRICE_TABLE.map((p) => h('tr', null,
        h('td', null, h('code', null, p.model)), h('td', null, '$' + p.input), h('td', null, '$' + p.cacheRead),
        h('td', null, '$' + p.cacheWrite), h('td', null, '$' + p.output))))));
}
