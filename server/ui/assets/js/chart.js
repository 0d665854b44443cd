// Charts drawn as inline SVG: a stacked bar chart over time buckets.

import {h, s} from './dom.js';

// niceMax rounds a maximum up to 1, 2 or 5 × 10^n.
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// niceTicks picks the y axis of a chart whose values reach max: about
// `count` equal steps of 1, 2 or 5 × 10^n (whole numbers when integer),
// from 0 to the first step at or above max. Returns the tick values.
export function niceTicks(max, count = 4, integer = false) {
  if (!(max > 0)) return [0, 1];
  let step = niceMax(max / count);
  if (integer) step = Math.max(1, Math.ceil(step));
  const n = Math.max(1, Math.ceil(max / step - 1e-9));
  const out = [];
  // Multiply, never add, so that 0.1 steps stay exact enough to print.
  for (let i = 0; i <= n; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

// bucketWidthLabel names a bucket width: "5-minute", "1-hour", "1-day".
export function bucketWidthLabel(widthMs) {
  const units = [[7 * 86400e3, 'week'], [86400e3, 'day'], [3600e3, 'hour'], [60e3, 'minute'], [1e3, 'second']];
  for (const [u, name] of units) {
    if (widthMs >= u && widthMs % u === 0) return `${widthMs / u}-${name}`;
  }
  return `${Math.round(widthMs / 1000)}-second`;
}

// bucketLabel formats a bucket start for its width. Buckets of four weeks
// and more come from windows of years (the server picks whole weeks for
// about 60 buckets, however long "All time" is): they show the year.
export function bucketLabel(t, widthMs) {
  const d = new Date(t);
  if (widthMs >= 52 * 7 * 86400e3) return `${d.getFullYear()}`;
  if (widthMs >= 4 * 7 * 86400e3) return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
  if (widthMs >= 86400e3) return `${d.getMonth() + 1}/${d.getDate()}`;
  if (widthMs >= 3600e3) return `${d.getMonth() + 1}/${d.getDate()} ${pad(d.getHours())}h`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// stackedBars draws buckets [{start (ms), values: {seriesKey: n}}] for
// series [{key, label}] (colour by position). opts: {height, format(n),
// title, width (bucket width in ms), integer (counts: whole-number ticks)}.
export function stackedBars(buckets, series, opts = {}) {
  const W = 720;
  const H = opts.height || 180;
  const padL = 58;
  const padB = 22;
  const padT = 8;
  const plotW = W - padL - 8;
  const plotH = H - padB - padT;
  const fmt = opts.format || ((n) => String(n));
  const ticks = niceTicks(Math.max(0, ...buckets.map((b) => series.reduce((a, sr) => a + (b.values[sr.key] || 0), 0))), 4, !!opts.integer);
  const max = ticks[ticks.length - 1];
  const n = Math.max(1, buckets.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.72);
  const svg = s('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title || 'chart'});
  svg.append(s('title', null, opts.title || 'chart'));
  // Grid and y labels.
  for (const v of ticks) {
    const y = padT + plotH - (plotH * v) / max;
    svg.append(s('line', {class: 'grid', x1: padL, x2: W - 8, y1: y, y2: y}));
    svg.append(s('text', {class: 'axis-label', x: padL - 6, y: y + 4, 'text-anchor': 'end'}, fmt(v)));
  }
  // Bars.
  buckets.forEach((b, i) => {
    const x = padL + i * slot + (slot - barW) / 2;
    let y = padT + plotH;
    const g = s('g', {class: 'bar-group'});
    const parts = [];
    series.forEach((sr, si) => {
      const v = b.values[sr.key] || 0;
      if (!v) return;
      const hgt = (v / max) * plotH;
      y -= hgt;
      g.append(s('rect', {class: `bar ${opts.errors ? 'series-error' : 'series-' + (si % 8)}`, x, y, width: barW, height: Math.max(hgt, 0.5)}));
      parts.push(`${sr.label}: ${fmt(v)}`);
    });
    const label = bucketLabel(b.start, opts.width || 0);
    g.append(s('title', null, `${label}\n${parts.length ? parts.join('\n') : 'no activity'}`));
    // A transparent full-height target so the tooltip works on short bars.
    g.insertBefore(s('rect', {class: 'bar-hit', x: padL + i * slot, y: padT, width: slot, height: plotH}), g.firstChild);
    svg.append(g);
  });
  // X labels: about six.
  const every = Math.max(1, Math.ceil(n / 6));
  buckets.forEach((b, i) => {
    if (i % every !== 0) return;
    svg.append(s('text', {class: 'axis-label', x: padL + i * slot + slot / 2, y: H - 6, 'text-anchor': 'middle'}, bucketLabel(b.start, opts.width || 0)));
  });
  svg.append(s('line', {class: 'axis', x1: padL, x2: W - 8, y1: padT + plotH, y2: padT + plotH}));
  const legend = series.length > 1 || opts.legend
    ? h('ul', {class: 'legend'}, series.map((sr, si) => h('li', null, h('span', {class: `swatch series-${si % 8}`, 'aria-hidden': 'true'}), sr.label)))
    : null;
  return h('figure', {class: 'chart-figure'}, svg, legend, opts.caption ? h('figcaption', {class: 'muted'}, opts.caption) : null);
}

// fillBuckets turns the API's sparse metric rows into a dense series of
// buckets from `from` to `to` (ms) of width ms, with values picked by
// valueOf(row) and keyed by keyOf(row).
export function fillBuckets(rows, from, to, width, keyOf, valueOf) {
  const start = Math.floor(from / width) * width;
  const out = [];
  const index = new Map();
  for (let t = start; t < to && out.length < 2000; t += width) {
    index.set(t, out.length);
    out.push({start: t, values: {}});
  }
  for (const r of rows) {
    const t = new Date(r.start).getTime();
    let i = index.get(t);
    if (i === undefined) {
      // Outside the window (clock skew): add it in order.
      out.push({start: t, values: {}});
      out.sort((a, b) => a.start - b.start);
      index.clear();
      out.forEach((b, k) => index.set(b.start, k));
      i = index.get(t);
    }
    const k = keyOf(r);
    out[i].values[k] = (out[i].values[k] || 0) + valueOf(r);
  }
  return out;
}
