// Cost estimates from a small table of list prices. These are estimates at
// the published pay-as-you-go price, not a bill: subscriptions (Claude Pro
// or Max plans), batch discounts, long-context and regional surcharges,
// 1-hour cache writes and negotiated rates are not modelled. A model not in
// the table gets no estimate rather than a guess.
//
// Prices are USD per million tokens, as published by Anthropic
// (platform.claude.com/docs/en/about-claude/pricing) and OpenAI
// (openai.com/api/pricing), checked in November 2026. cacheWrite is the
// 5-minute cache write price; OpenAI does not charge extra for cache writes,
// so theirs equals the input price.

export const PRICES_CHECKED = '2026-11';

export const PRICE_TABLE = [
  // Anthropic
  {model: 'claude-fable-5-1', input: 10, output: 50, cacheRead: 0.25, cacheWrite: 12.5},
  {model: 'claude-fable-5', input: 10, output: 50, cacheRead: 1, cacheWrite: 12.5},
  {model: 'claude-opus-5-5', input: 4, output: 20, cacheRead: 0.2, cacheWrite: 5},
  {model: 'claude-opus-5', input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25},
  {model: 'claude-opus-4-8', input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25},
  {model: 'claude-opus-4-7', input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25},
  {model: 'claude-opus-4-6', input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25},
  {model: 'claude-opus-4-5', input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25},
  {model: 'claude-opus-4-1', input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75},
  {model: 'claude-opus-4', input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75},
  {model: 'claude-3-opus', input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75},
  {model: 'claude-sonnet-5-5', input: 2, output: 10, cacheRead: 0.1, cacheWrite: 2.5},
  {model: 'claude-sonnet-5', input: 2, output: 10, cacheRead: 0.2, cacheWrite: 2.5},
  {model: 'claude-sonnet-4-6', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75},
  {model: 'claude-sonnet-4-5', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75},
  {model: 'claude-sonnet-4', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75},
  {model: 'claude-3-7-sonnet', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75},
  {model: 'claude-3-5-sonnet', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75},
  // Haiku 5.5 is cheaper for prompts up to 100k tokens; this is that band.
  {model: 'claude-haiku-5-5', input: 0.1, output: 0.5, cacheRead: 0.01, cacheWrite: 0.125},
  {model: 'claude-haiku-4-5', input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25},
  {model: 'claude-3-5-haiku', input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1},
  {model: 'claude-3-haiku', input: 0.25, output: 1.25, cacheRead: 0.03, cacheWrite: 0.3},
  // OpenAI
  {model: 'gpt-5.4', input: 2.5, output: 15, cacheRead: 0.25, cacheWrite: 2.5},
  {model: 'gpt-5.4-mini', input: 0.75, output: 4.5, cacheRead: 0.075, cacheWrite: 0.75},
  {model: 'gpt-5.1', input: 1.25, output: 10, cacheRead: 0.125, cacheWrite: 1.25},
  {model: 'gpt-5', input: 1.25, output: 10, cacheRead: 0.125, cacheWrite: 1.25},
  {model: 'gpt-5-mini', input: 0.25, output: 2, cacheRead: 0.025, cacheWrite: 0.25},
  {model: 'gpt-5-nano', input: 0.05, output: 0.4, cacheRead: 0.005, cacheWrite: 0.05},
  {model: 'gpt-4.1', input: 2, output: 8, cacheRead: 0.5, cacheWrite: 2},
  {model: 'gpt-4.1-mini', input: 0.4, output: 1.6, cacheRead: 0.1, cacheWrite: 0.4},
  {model: 'gpt-4.1-nano', input: 0.1, output: 0.4, cacheRead: 0.025, cacheWrite: 0.1},
  {model: 'gpt-4o', input: 2.5, output: 10, cacheRead: 1.25, cacheWrite: 2.5},
  {model: 'gpt-4o-mini', input: 0.15, output: 0.6, cacheRead: 0.075, cacheWrite: 0.15},
  {model: 'o3', input: 2, output: 8, cacheRead: 0.5, cacheWrite: 2},
  {model: 'o4-mini', input: 1.1, output: 4.4, cacheRead: 0.275, cacheWrite: 1.1},
  {model: 'o1', input: 15, output: 60, cacheRead: 7.5, cacheWrite: 15},
];

const byModel = new Map(PRICE_TABLE.map((p) => [p.model, p]));

// Aliases: the same model under another published name.
const ALIASES = new Map([
  ['claude-opus-4-0', 'claude-opus-4'],
  ['claude-sonnet-4-0', 'claude-sonnet-4'],
  ['claude-3-5-sonnet-v2', 'claude-3-5-sonnet'],
  ['claude-3-7-sonnet-latest', 'claude-3-7-sonnet'],
  ['claude-3-5-haiku-latest', 'claude-3-5-haiku'],
  ['claude-3-5-sonnet-latest', 'claude-3-5-sonnet'],
  ['claude-3-opus-latest', 'claude-3-opus'],
  ['gpt-5-chat-latest', 'gpt-5'],
  ['gpt-5-codex', 'gpt-5'],
  ['gpt-5.1-codex', 'gpt-5.1'],
  ['chatgpt-4o-latest', 'gpt-4o'],
]);

// canonicalModel maps a model id as producers write it to the table's key:
// lower case; provider prefixes ("anthropic/", Bedrock's
// "us.anthropic.", Vertex's "@20250929"), version suffixes ("-v1:0"),
// context markers ("[1m]") and dates ("-20250929", "-2025-08-07") removed.
export function canonicalModel(model) {
  let m = String(model || '').trim().toLowerCase();
  if (!m) return '';
  m = m.slice(m.lastIndexOf('/') + 1);
  m = m.replace(/\[[^\]]*\]$/, '');
  m = m.replace(/@.*$/, '');
  m = m.replace(/^(?:us|eu|apac|global|jp|au)\./, '');
  m = m.replace(/^(?:anthropic|openai)\./, '');
  m = m.replace(/-v\d+(?::\d+)?$/, (s) => (s === '-v2' ? s : ''));
  m = m.replace(/:\d+$/, '');
  m = m.replace(/-\d{4}-\d{2}-\d{2}$/, '');
  m = m.replace(/-\d{8}$/, '');
  return ALIASES.get(m) || m;
}

// priceOf returns the price row of a model, or null.
export function priceOf(model) {
  return byModel.get(canonicalModel(model)) || null;
}

// costOf estimates the cost of one call's usage. input_tokens follows the
// OTel GenAI conventions and includes cached input (read and written); when
// a producer reported them apart (input smaller than the cache figures),
// input is taken as the uncached part. Returns null without a price.
export function costOf(model, usage) {
  if (!usage) return 0;
  const p = priceOf(model);
  if (!p) return null;
  const input = usage.input_tokens || 0;
  const read = usage.cache_read_input_tokens || 0;
  const write = usage.cache_creation_input_tokens || 0;
  const uncached = input >= read + write ? input - read - write : input;
  const out = usage.output_tokens || 0;
  return (uncached * p.input + read * p.cacheRead + write * p.cacheWrite + out * p.output) / 1e6;
}

// Estimate accumulates call costs; unknown lists models without a price
// (their usage is left out of usd).
export class Estimate {
  constructor() {
    this.usd = 0;
    this.priced = 0;
    this.unknown = new Set();
  }
  add(model, usage) {
    if (!usage) return this;
    const c = costOf(model, usage);
    if (c === null) {
      this.unknown.add(model || '(no model)');
    } else {
      this.usd += c;
      this.priced++;
    }
    return this;
  }
  merge(o) {
    this.usd += o.usd;
    this.priced += o.priced;
    for (const m of o.unknown) this.unknown.add(m);
    return this;
  }
  // known reports whether the whole figure is priced.
  get known() {
    return this.unknown.size === 0;
  }
}

// rangeForModels estimates the cost of a usage total spread over several
// models whose split is unknown: [low, high] at the cheapest and dearest of
// their prices, or null if any has no price.
export function rangeForModels(models, usage) {
  if (!usage || !models || models.length === 0) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const m of models) {
    const c = costOf(m, usage);
    if (c === null) return null;
    lo = Math.min(lo, c);
    hi = Math.max(hi, c);
  }
  return [lo, hi];
}
