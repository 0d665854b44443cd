// A small, safe markdown renderer for model output.
//
// Safety comes from construction, not from sanitising: the input is never
// parsed as HTML. The renderer builds DOM nodes itself, from a fixed set of
// elements (ALLOWED_TAGS), with text always inserted as text nodes, so any
// markup in the input shows as the literal characters it is. Links are
// created only for absolute http:, https: and mailto: URLs; anything else
// (javascript:, data:, relative paths) is shown as text. Images are never
// loaded (that would be a fetch to a third party); they show as links.
//
// Supported: paragraphs (single newlines become line breaks, as in chat
// UIs), ATX headings, fenced and indented code blocks, block quotes,
// ordered / unordered / task lists (nested), tables, thematic breaks,
// inline code, **strong**, *emphasis*, _emphasis_, ~~strike~~, links,
// autolinks and bare URLs, backslash escapes.
//
// Bounds: nesting is capped (MAX_DEPTH) and very long inputs are shown as
// plain preformatted text (MAX_INPUT), so a hostile input cannot make the
// page hang.

export const MAX_INPUT = 200_000;
const MAX_DEPTH = 12;

export const ALLOWED_TAGS = new Set([
  'P', 'BR', 'H3', 'H4', 'H5', 'H6', 'PRE', 'CODE', 'BLOCKQUOTE', 'UL', 'OL', 'LI',
  'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'HR', 'STRONG', 'EM', 'DEL', 'A', 'SPAN', 'DIV',
]);

const SAFE_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

// linkHref returns the URL when it is absolute with a safe scheme.
export function linkHref(dest) {
  if (typeof dest !== 'string' || dest === '') return null;
  // Control characters and spaces can hide a scheme ("java\tscript:").
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(dest)) return null;
  let u;
  try {
    u = new URL(dest);
  } catch {
    return null;
  }
  return SAFE_SCHEMES.has(u.protocol) ? u.href : null;
}

function el(tag, cls) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

function text(s) {
  return document.createTextNode(s);
}

// renderMarkdown returns a DocumentFragment for src.
export function renderMarkdown(src) {
  const out = document.createDocumentFragment();
  if (typeof src !== 'string' || src === '') return out;
  if (src.length > MAX_INPUT) {
    const pre = el('pre', 'md-plain');
    pre.appendChild(text(src));
    out.appendChild(pre);
    return out;
  }
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  for (const n of parseBlocks(lines, 0)) out.appendChild(n);
  return out;
}

// ---- blocks ----

const RE_FENCE = /^( {0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$/;
const RE_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RE_HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const RE_QUOTE = /^ {0,3}> ?(.*)$/;
const RE_ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(?:([ \t]+)(.*)|[ \t]*)$/;
const RE_TABLE_SEP = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const RE_BLANK = /^[ \t]*$/;
const RE_INDENTED = /^(?: {4}|\t)/;

function isBlank(line) {
  return RE_BLANK.test(line);
}

// startsBlock reports whether line begins a block that interrupts a
// paragraph.
function startsBlock(line) {
  return RE_FENCE.test(line) || RE_HEADING.test(line) || RE_HR.test(line) ||
    RE_QUOTE.test(line) || RE_ITEM.test(line);
}

function parseBlocks(lines, depth) {
  const nodes = [];
  if (depth > MAX_DEPTH) {
    const pre = el('pre', 'md-plain');
    pre.appendChild(text(lines.join('\n')));
    return [pre];
  }
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i++;
      continue;
    }
    let m;
    if ((m = RE_FENCE.exec(line))) {
      i = fencedCode(lines, i, m, nodes);
      continue;
    }
    if ((m = RE_HEADING.exec(line))) {
      const level = m[1].length;
      const hx = el('h' + Math.min(6, level + 2), 'md-h' + level);
      appendInline(hx, m[2] || '', depth);
      nodes.push(hx);
      i++;
      continue;
    }
    if (RE_HR.test(line)) {
      nodes.push(el('hr'));
      i++;
      continue;
    }
    if (RE_QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && (m = RE_QUOTE.exec(lines[i]))) {
        inner.push(m[1]);
        i++;
      }
      const bq = el('blockquote');
      for (const n of parseBlocks(inner, depth + 1)) bq.appendChild(n);
      nodes.push(bq);
      continue;
    }
    if (RE_ITEM.test(line)) {
      i = list(lines, i, depth, nodes);
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && RE_TABLE_SEP.test(lines[i + 1])) {
      const t = table(lines, i, depth);
      if (t) {
        nodes.push(t.node);
        i = t.next;
        continue;
      }
    }
    if (RE_INDENTED.test(line)) {
      const code = [];
      while (i < lines.length && (RE_INDENTED.test(lines[i]) || isBlank(lines[i]))) {
        code.push(lines[i].replace(/^(?: {4}|\t)/, ''));
        i++;
      }
      while (code.length && isBlank(code[code.length - 1])) code.pop();
      nodes.push(codeBlock(code.join('\n'), ''));
      continue;
    }
    // Paragraph.
    const para = [line.replace(/^[ \t]+/, '')];
    i++;
    while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines[i])) {
      para.push(lines[i].replace(/^[ \t]+/, ''));
      i++;
    }
    const p = el('p');
    appendInline(p, para.join('\n').replace(/[ \t]+$/, ''), depth);
    nodes.push(p);
  }
  return nodes;
}

function codeBlock(body, lang) {
  const pre = el('pre', 'md-code');
  const code = el('code');
  if (/^[A-Za-z0-9_+#.-]{1,30}$/.test(lang)) {
    code.className = 'language-' + lang.toLowerCase();
    pre.dataset.lang = lang.toLowerCase();
  }
  code.appendChild(text(body));
  pre.appendChild(code);
  return pre;
}

function fencedCode(lines, i, m, nodes) {
  const indent = m[1].length;
  const fence = m[2];
  const lang = m[3] || '';
  const body = [];
  i++;
  const closer = new RegExp('^ {0,3}' + (fence[0] === '`' ? '`' : '~') + '{' + fence.length + ',}[ \\t]*$');
  while (i < lines.length && !closer.test(lines[i])) {
    let l = lines[i];
    let k = 0;
    while (k < indent && l[k] === ' ') k++;
    body.push(l.slice(k));
    i++;
  }
  if (i < lines.length) i++; // the closing fence
  nodes.push(codeBlock(body.join('\n'), lang));
  return i;
}

function indentWidth(s) {
  let w = 0;
  for (const c of s) {
    if (c === ' ') w++;
    else if (c === '\t') w += 4 - (w % 4);
    else break;
  }
  return w;
}

// dedent removes up to n columns of leading whitespace.
function dedent(line, n) {
  let w = 0;
  let k = 0;
  while (k < line.length && w < n) {
    if (line[k] === ' ') w++;
    else if (line[k] === '\t') w += 4 - (w % 4);
    else break;
    k++;
  }
  return line.slice(k);
}

function list(lines, i, depth, nodes) {
  const first = RE_ITEM.exec(lines[i]);
  const ordered = /\d/.test(first[2]);
  const delim = ordered ? first[2].slice(-1) : first[2];
  const listEl = el(ordered ? 'ol' : 'ul');
  if (ordered) {
    const start = parseInt(first[2], 10);
    if (start !== 1 && Number.isFinite(start)) listEl.setAttribute('start', String(start));
  }
  let loose = false;
  const items = [];
  while (i < lines.length) {
    const m = RE_ITEM.exec(lines[i]);
    if (!m) break;
    const isOrdered = /\d/.test(m[2]);
    const d = isOrdered ? m[2].slice(-1) : m[2];
    if (isOrdered !== ordered || d !== delim) break;
    const markerIndent = m[1].length;
    const gap = m[3] ? Math.min(indentWidth(m[3]), 4) : 1;
    const contentIndent = markerIndent + m[2].length + (m[4] === undefined || m[4] === '' ? 1 : gap);
    const body = [m[4] || ''];
    i++;
    let sawBlank = false;
    while (i < lines.length) {
      const l = lines[i];
      if (isBlank(l)) {
        body.push('');
        sawBlank = true;
        i++;
        continue;
      }
      const w = indentWidth(l);
      if (w >= contentIndent) {
        body.push(dedent(l, contentIndent));
        if (sawBlank) loose = true;
        sawBlank = false;
        i++;
        continue;
      }
      // A lazy continuation of the item's paragraph.
      if (!sawBlank && !startsBlock(l) && !(l.includes('|') && i + 1 < lines.length && RE_TABLE_SEP.test(lines[i + 1]))) {
        body.push(l.replace(/^[ \t]+/, ''));
        i++;
        continue;
      }
      break;
    }
    // Trailing blank lines belong between items, not to this item.
    let trailing = 0;
    while (body.length > 1 && body[body.length - 1] === '') {
      body.pop();
      trailing++;
    }
    if (trailing > 0 && i < lines.length && RE_ITEM.test(lines[i])) loose = true;
    items.push(body);
    if (trailing > 0 && !(i < lines.length && RE_ITEM.test(lines[i]))) break;
  }
  for (const body of items) {
    const li = el('li');
    let lines0 = body;
    const task = /^\[([ xX])\][ \t]+/.exec(lines0[0]);
    if (task) {
      li.className = 'md-task';
      const box = el('span', task[1] === ' ' ? 'md-check' : 'md-check md-checked');
      box.setAttribute('aria-hidden', 'true');
      box.appendChild(text(task[1] === ' ' ? '☐' : '☑'));
      li.appendChild(box);
      li.appendChild(text(' '));
      lines0 = [lines0[0].slice(task[0].length), ...lines0.slice(1)];
    }
    const children = parseBlocks(lines0, depth + 1);
    for (const c of children) {
      if (!loose && c.tagName === 'P') {
        while (c.firstChild) li.appendChild(c.firstChild);
      } else {
        li.appendChild(c);
      }
    }
    listEl.appendChild(li);
  }
  nodes.push(listEl);
  return i;
}

// splitRow splits a table row on | outside code spans and escapes.
function splitRow(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells = [];
  let cur = '';
  let inCode = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (c === '\\' && s[k + 1] === '|') {
      cur += '|';
      k++;
      continue;
    }
    if (c === '`') {
      let run = 0;
      while (s[k + run] === '`') run++;
      if (inCode === 0) inCode = run;
      else if (inCode === run) inCode = 0;
      cur += s.slice(k, k + run);
      k += run - 1;
      continue;
    }
    if (c === '|' && inCode === 0) {
      cells.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  cells.push(cur.trim());
  return cells;
}

function table(lines, i, depth) {
  const head = splitRow(lines[i]);
  const seps = splitRow(lines[i + 1]);
  if (head.length !== seps.length || head.length === 0) return null;
  const align = seps.map((c) => {
    const l = c.startsWith(':');
    const r = c.endsWith(':');
    return l && r ? 'center' : r ? 'right' : l ? 'left' : '';
  });
  const tbl = el('table', 'md-table');
  const thead = el('thead');
  const tr = el('tr');
  head.forEach((c, k) => {
    const th = el('th', align[k] ? 'align-' + align[k] : '');
    appendInline(th, c, depth);
    tr.appendChild(th);
  });
  thead.appendChild(tr);
  tbl.appendChild(thead);
  const tbody = el('tbody');
  let j = i + 2;
  while (j < lines.length && !isBlank(lines[j]) && lines[j].includes('|') && !startsBlock(lines[j])) {
    const cells = splitRow(lines[j]);
    const row = el('tr');
    for (let k = 0; k < head.length; k++) {
      const td = el('td', align[k] ? 'align-' + align[k] : '');
      appendInline(td, cells[k] || '', depth);
      row.appendChild(td);
    }
    tbody.appendChild(row);
    j++;
  }
  tbl.appendChild(tbody);
  const wrap = el('div', 'md-table-wrap');
  wrap.appendChild(tbl);
  return {node: wrap, next: j};
}

// ---- inlines ----

const PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

function appendInline(parent, s, depth) {
  for (const n of inline(s, depth, false)) parent.appendChild(n);
}

function isSpace(c) {
  return c === undefined || c === ' ' || c === '\t' || c === '\n';
}

function isWordChar(c) {
  return c !== undefined && /[\p{L}\p{N}]/u.test(c);
}

// Scan holds one inline run's text and the memo tables that keep parsing
// linear: a search that failed from position p (for a closing delimiter or
// a closing backtick run) fails from every later position too.
class Scan {
  constructor(s) {
    this.s = s;
    this.failedDelim = new Map();
    this.failedTicks = new Map();
    this.brackets = null;
  }

  // closer finds the closing run of exactly delim for an opener whose
  // content starts at from, or -1.
  closer(from, delim) {
    const s = this.s;
    const f = this.failedDelim.get(delim);
    if (f !== undefined && from >= f) return -1;
    const c = delim[0];
    let k = from;
    while (k < s.length) {
      const j = s.indexOf(delim, k);
      if (j < 0) break;
      let run = delim.length;
      while (s[j + run] === c) run++;
      const exact = run === delim.length && s[j - 1] !== c;
      let ok = exact && j > from && !isSpace(s[j - 1]);
      if (ok && c === '_') ok = !isWordChar(s[j + delim.length]);
      if (ok && s.slice(from, j).trim() !== '') return j;
      k = j + run;
    }
    this.failedDelim.set(delim, from);
    return -1;
  }

  // codeEnd returns where the backtick run closing a run of length n that
  // starts at i begins, or -1.
  codeEnd(i, n) {
    const s = this.s;
    const f = this.failedTicks.get(n);
    if (f !== undefined && i >= f) return -1;
    let k = i + n;
    while (k < s.length) {
      const j = s.indexOf('`', k);
      if (j < 0) break;
      let run = 0;
      while (s[j + run] === '`') run++;
      if (run === n) return j;
      k = j + run;
    }
    this.failedTicks.set(n, i);
    return -1;
  }

  // bracketClose returns the index of the ] matching the [ at i, or -1.
  // All pairs are found in one pass, skipping escapes and code spans.
  bracketClose(i) {
    if (this.brackets === null) {
      this.brackets = new Map();
      const s = this.s;
      const stack = [];
      for (let k = 0; k < s.length; k++) {
        const c = s[k];
        if (c === '\\') {
          k++;
        } else if (c === '`') {
          let run = 0;
          while (s[k + run] === '`') run++;
          const end = this.codeEnd(k, run);
          k = end >= 0 ? end + run - 1 : k + run - 1;
        } else if (c === '[') {
          stack.push(k);
        } else if (c === ']' && stack.length) {
          this.brackets.set(stack.pop(), k);
        }
      }
    }
    const j = this.brackets.get(i);
    return j === undefined ? -1 : j;
  }

  // linkAt parses [label](dest "title") with the [ at i; returns
  // {label, dest, end} or null.
  linkAt(i) {
    const s = this.s;
    const k = this.bracketClose(i);
    if (k < 0 || s[k + 1] !== '(') return null;
    const label = s.slice(i + 1, k);
    let j = k + 2;
    while (s[j] === ' ') j++;
    let dest;
    if (s[j] === '<') {
      const close = s.indexOf('>', j);
      if (close < 0 || close - j > 2048) return null;
      dest = s.slice(j + 1, close);
      j = close + 1;
    } else {
      let parens = 0;
      const startDest = j;
      const limit = Math.min(s.length, j + 2048);
      for (; j < limit; j++) {
        const c = s[j];
        if (c === '\\') {
          j++;
          continue;
        }
        if (c === '(') parens++;
        else if (c === ')') {
          if (parens === 0) break;
          parens--;
        } else if (c === ' ' || c === '\n' || c === '\t') break;
      }
      dest = s.slice(startDest, j);
    }
    while (s[j] === ' ' || s[j] === '\n') j++;
    if (s[j] === '"' || s[j] === "'") {
      const close = s.indexOf(s[j], j + 1);
      if (close < 0 || close - j > 1024) return null;
      j = close + 1;
      while (s[j] === ' ') j++;
    }
    if (s[j] !== ')') return null;
    return {label, dest: dest.replace(/\\(.)/g, '$1'), end: j + 1};
  }
}

const RE_BARE_URL = /^(?:https?:\/\/|mailto:)[^\s<>"`]+/;

// bareURL returns the URL starting at i without trailing punctuation, or
// null.
function bareURL(s, i) {
  const m = RE_BARE_URL.exec(s.slice(i, i + 2048));
  if (!m) return null;
  let u = m[0];
  for (;;) {
    const last = u[u.length - 1];
    if ('.,:;!?\'*_~]'.includes(last)) {
      u = u.slice(0, -1);
    } else if (last === ')' && (u.match(/\(/g) || []).length < (u.match(/\)/g) || []).length) {
      u = u.slice(0, -1);
    } else {
      break;
    }
  }
  return u.length > 8 ? u : null;
}

function makeLink(href, children) {
  const a = el('a', 'md-link');
  a.setAttribute('href', href);
  a.setAttribute('rel', 'noopener noreferrer nofollow');
  a.setAttribute('target', '_blank');
  for (const c of children) a.appendChild(c);
  return a;
}

function spanWithTitle(cls, children, title) {
  const sp = el('span', cls);
  if (title) sp.setAttribute('title', title);
  for (const c of children) sp.appendChild(c);
  return sp;
}

function wrap(tag, children) {
  const e = el(tag);
  for (const n of children) e.appendChild(n);
  return e;
}

function inline(s, depth, inLink) {
  if (depth > MAX_DEPTH) return [text(s)];
  const sc = new Scan(s);
  const nodes = [];
  let buf = '';
  const flush = () => {
    if (buf) {
      nodes.push(text(buf));
      buf = '';
    }
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length && PUNCT.includes(s[i + 1])) {
      buf += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '\n' || (c === '\\' && s[i + 1] === '\n')) {
      flush();
      nodes.push(el('br'));
      i += c === '\n' ? 1 : 2;
      continue;
    }
    if (c === '`') {
      let run = 0;
      while (s[i + run] === '`') run++;
      const end = sc.codeEnd(i, run);
      if (end < 0) {
        buf += s.slice(i, i + run);
        i += run;
        continue;
      }
      flush();
      let body = s.slice(i + run, end).replace(/\n/g, ' ');
      if (body.length > 2 && body[0] === ' ' && body[body.length - 1] === ' ' && body.trim() !== '') body = body.slice(1, -1);
      const code = el('code', 'md-inline-code');
      code.appendChild(text(body));
      nodes.push(code);
      i = end + run;
      continue;
    }
    if (!inLink && (c === '[' || (c === '!' && s[i + 1] === '['))) {
      const img = c === '!';
      const l = sc.linkAt(img ? i + 1 : i);
      if (l) {
        flush();
        const href = linkHref(l.dest);
        if (img) {
          // Never load remote images: show a link to the image instead.
          const label = [text('image: ' + (l.label || l.dest))];
          nodes.push(href ? makeLink(href, label) : spanWithTitle('md-image', label, l.dest));
        } else if (href) {
          nodes.push(makeLink(href, inline(l.label, depth + 1, true)));
        } else {
          nodes.push(spanWithTitle('md-link-text', inline(l.label, depth + 1, true), l.dest));
        }
        i = l.end;
        continue;
      }
    }
    if (!inLink && c === '<') {
      const m = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/.exec(s.slice(i, i + 2050));
      const href = m && linkHref(m[1]);
      if (href) {
        flush();
        nodes.push(makeLink(href, [text(m[1])]));
        i += m[0].length;
        continue;
      }
    }
    if (!inLink && (c === 'h' || c === 'm') && !isWordChar(s[i - 1])) {
      const u = bareURL(s, i);
      const href = u && linkHref(u);
      if (href) {
        flush();
        nodes.push(makeLink(href, [text(u)]));
        i += u.length;
        continue;
      }
    }
    if (c === '*' || c === '_' || c === '~') {
      let run = 0;
      while (s[i + run] === c) run++;
      const usable = c === '~' ? (run === 2 ? 2 : 0) : run <= 3 ? run : 0;
      const leftOK = !isSpace(s[i + run]) && (c !== '_' || !isWordChar(s[i - 1]));
      if (usable > 0 && leftOK) {
        const delim = c.repeat(usable);
        const close = sc.closer(i + usable, delim);
        if (close >= 0) {
          flush();
          const inner = inline(s.slice(i + usable, close), depth + 1, inLink);
          if (c === '~') nodes.push(wrap('del', inner));
          else if (usable === 1) nodes.push(wrap('em', inner));
          else if (usable === 2) nodes.push(wrap('strong', inner));
          else nodes.push(wrap('strong', [wrap('em', inner)]));
          i = close + usable;
          continue;
        }
      }
      buf += s.slice(i, i + run);
      i += run;
      continue;
    }
    buf += c;
    i++;
  }
  flush();
  return nodes;
}
