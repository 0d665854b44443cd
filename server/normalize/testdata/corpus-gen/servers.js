// Dependency-free local servers for capturing OTLP payloads.
//
//  - OTLP capture      :4318  POST [/<lib>/<case>/<fmt>]/v1/traces  -> saves the raw body
//                             into captured/NNNN__<tag>__traces.<pb|json> plus index.tsv,
//                             answers 200 with an empty ExportTraceServiceResponse.
//  - Mock Anthropic    :18081 /v1/messages (non-streamed and SSE streamed), tool_use when tools
//                             are offered and there is no tool_result yet; model "does-not-exist"
//                             gets a real-shaped 404 not_found_error.
//  - Mock OpenAI       :18080 /v1/chat/completions (non-streamed and SSE streamed, tool_calls,
//                             stream_options.include_usage); model "does-not-exist" -> real 404.
//                             Added later: /v1/responses (non-streamed, function_call).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const CAPTURE_DIR = process.env.CAPTURE_DIR || path.join(__dirname, 'captured');
fs.mkdirSync(CAPTURE_DIR, { recursive: true });
let seq = 0;
for (const f of fs.readdirSync(CAPTURE_DIR)) {
  const m = /^(\d{4})__/.exec(f);
  if (m) seq = Math.max(seq, Number(m[1]));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const rid = (prefix, n = 24) =>
  prefix + Array.from(crypto.randomBytes(n), (b) => '0123456789abcdefghijklmnopqrstuvwxyz'[b % 36]).join('');

// ---------------------------------------------------------------- OTLP capture
http
  .createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url, 'http://x');
    const m = /^(?:\/(.+))?\/v1\/(traces|logs|metrics)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404).end();
      return;
    }
    const tag = (m[1] || 'untagged').replace(/\//g, '__');
    const signal = m[2];
    const ct = String(req.headers['content-type'] || '');
    const isJson = ct.includes('json');
    seq += 1;
    const name = `${String(seq).padStart(4, '0')}__${tag}__${signal}.${isJson ? 'json' : 'pb'}`;
    fs.writeFileSync(path.join(CAPTURE_DIR, name), body);
    fs.appendFileSync(
      path.join(CAPTURE_DIR, 'index.tsv'),
      [name, req.url, ct, req.headers['content-encoding'] || '', body.length, new Date().toISOString()].join('\t') + '\n'
    );
    if (isJson) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } else {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.alloc(0));
    }
  })
  .listen(4318, '127.0.0.1', () => console.log('capture on :4318 ->', CAPTURE_DIR));

// ---------------------------------------------------------------- helpers
const WEATHER_ARGS = { location: 'Paris, France', unit: 'celsius' };

function sse(res) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
}

function chunkString(s, n) {
  const out = [];
  for (let i = 0; i < s.length; i += n) out.push(s.slice(i, i + n));
  return out;
}

// ---------------------------------------------------------------- mock Anthropic
function anthropicHasToolResult(messages) {
  return (messages || []).some(
    (m) => Array.isArray(m.content) && m.content.some((b) => b && b.type === 'tool_result')
  );
}

http
  .createServer(async (req, res) => {
    const raw = await readBody(req);
    const url = new URL(req.url, 'http://x');
    const reqId = rid('req_011C', 20);
    const baseHeaders = { 'request-id': reqId, 'anthropic-organization-id': 'org-corpus' };
    if (req.method !== 'POST' || url.pathname !== '/v1/messages') {
      res.writeHead(404, { 'content-type': 'application/json', ...baseHeaders });
      res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'Not found' }, request_id: reqId }));
      return;
    }
    let body = {};
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {}
    if (body.model === 'does-not-exist') {
      res.writeHead(404, { 'content-type': 'application/json', ...baseHeaders });
      res.end(
        JSON.stringify({
          type: 'error',
          error: { type: 'not_found_error', message: `model: ${body.model}` },
          request_id: reqId,
        })
      );
      return;
    }
    const wantsTool = Array.isArray(body.tools) && body.tools.length > 0 && !anthropicHasToolResult(body.messages);
    const msgId = rid('msg_01', 22);
    const model = body.model;
    let content, stopReason, usage;
    if (wantsTool) {
      const tool = body.tools[0];
      content = [
        { type: 'text', text: 'I\'ll check the current weather in Paris for you.' },
        { type: 'tool_use', id: rid('toolu_01', 22), name: tool.name, input: WEATHER_ARGS },
      ];
      stopReason = 'tool_use';
      usage = { input_tokens: 412, cache_creation_input_tokens: 1536, cache_read_input_tokens: 0, output_tokens: 57, service_tier: 'standard' };
    } else {
      const text = anthropicHasToolResult(body.messages)
        ? 'It is currently 18°C and partly cloudy in Paris.'
        : 'The capital of France is Paris.';
      content = [{ type: 'text', text }];
      stopReason = 'end_turn';
      usage = { input_tokens: 23, cache_creation_input_tokens: 0, cache_read_input_tokens: 1024, output_tokens: 15, service_tier: 'standard' };
    }
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json', ...baseHeaders });
      res.end(
        JSON.stringify({ id: msgId, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage })
      );
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...baseHeaders,
    });
    const ev = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    ev('message_start', {
      message: {
        id: msgId,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: usage.input_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          output_tokens: 1,
          service_tier: 'standard',
        },
      },
    });
    content.forEach((block, index) => {
      if (block.type === 'text') {
        ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
        ev('ping', {});
        for (const part of chunkString(block.text, 8)) ev('content_block_delta', { index, delta: { type: 'text_delta', text: part } });
      } else {
        ev('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
        ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } });
        for (const part of chunkString(JSON.stringify(block.input), 12))
          ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
      }
      ev('content_block_stop', { index });
    });
    ev('message_delta', {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: {
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        output_tokens: usage.output_tokens,
      },
    });
    ev('message_stop', {});
    res.end();
  })
  .listen(18081, '127.0.0.1', () => console.log('mock anthropic on :18081'));

// ---------------------------------------------------------------- mock OpenAI
function openaiHasToolResult(messages) {
  return (messages || []).some((m) => m && m.role === 'tool');
}

http
  .createServer(async (req, res) => {
    const raw = await readBody(req);
    const url = new URL(req.url, 'http://x');
    const reqId = rid('req_', 32);
    const baseHeaders = { 'x-request-id': reqId, 'openai-organization': 'org-corpus', 'openai-processing-ms': '312' };
    if (req.method === 'POST' && url.pathname === '/v1/responses') {
      openaiResponses(raw, res, baseHeaders);
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json', ...baseHeaders });
      res.end(JSON.stringify({ error: { message: `Invalid URL (${req.method} ${url.pathname})`, type: 'invalid_request_error', param: null, code: null } }));
      return;
    }
    let body = {};
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {}
    if (body.model === 'does-not-exist') {
      res.writeHead(404, { 'content-type': 'application/json', ...baseHeaders });
      res.end(
        JSON.stringify({
          error: {
            message: `The model \`${body.model}\` does not exist or you do not have access to it.`,
            type: 'invalid_request_error',
            param: null,
            code: 'model_not_found',
          },
        })
      );
      return;
    }
    const wantsTool = Array.isArray(body.tools) && body.tools.length > 0 && !openaiHasToolResult(body.messages);
    const id = rid('chatcmpl-', 29);
    const created = Math.floor(Date.now() / 1000);
    const model = body.model === 'gpt-4o-mini' ? 'gpt-4o-mini-2024-07-18' : body.model;
    const fp = 'fp_0ba0d124f1';
    let message, finish, usage;
    if (wantsTool) {
      const fn = body.tools[0].function;
      message = {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: rid('call_', 24), type: 'function', function: { name: fn.name, arguments: JSON.stringify(WEATHER_ARGS) } }],
        refusal: null,
        annotations: [],
      };
      finish = 'tool_calls';
      usage = { prompt_tokens: 142, completion_tokens: 18, total_tokens: 160 };
    } else {
      const text = openaiHasToolResult(body.messages)
        ? 'It is currently 18°C and partly cloudy in Paris.'
        : 'The capital of France is Paris.';
      message = { role: 'assistant', content: text, refusal: null, annotations: [] };
      finish = 'stop';
      usage = { prompt_tokens: 187, completion_tokens: 26, total_tokens: 213 };
    }
    usage.prompt_tokens_details = { cached_tokens: 64, audio_tokens: 0 };
    usage.completion_tokens_details = { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json', ...baseHeaders });
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
          usage,
          service_tier: 'default',
          system_fingerprint: fp,
        })
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...baseHeaders });
    const includeUsage = !!(body.stream_options && body.stream_options.include_usage);
    const chunk = (delta, finish_reason = null, extra = {}) =>
      res.write(
        `data: ${JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model,
          service_tier: 'default',
          system_fingerprint: fp,
          choices: [{ index: 0, delta, logprobs: null, finish_reason }],
          ...(includeUsage ? { usage: null } : {}),
          ...extra,
        })}\n\n`
      );
    if (message.tool_calls) {
      const tc = message.tool_calls[0];
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }], refusal: null });
      for (const part of chunkString(tc.function.arguments, 10)) chunk({ tool_calls: [{ index: 0, function: { arguments: part } }] });
    } else {
      chunk({ role: 'assistant', content: '', refusal: null });
      for (const part of chunkString(message.content, 6)) chunk({ content: part });
    }
    chunk({}, finish);
    if (includeUsage) {
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: fp, choices: [], usage })}\n\n`
      );
    }
    res.write('data: [DONE]\n\n');
    res.end();
  })
  .listen(18080, '127.0.0.1', () => console.log('mock openai on :18080'));

// ---------------------------------------------------------------- mock OpenAI Responses API (added)
// POST /v1/responses, non-streamed only. function_call when tools are offered and the input has
// no function_call_output yet; otherwise output_text. Model "does-not-exist" -> the same 404 as
// chat/completions.
function openaiResponses(raw, res, baseHeaders) {
  let body = {};
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {}
  if (body.model === 'does-not-exist') {
    res.writeHead(404, { 'content-type': 'application/json', ...baseHeaders });
    res.end(
      JSON.stringify({
        error: {
          message: `The model \`${body.model}\` does not exist or you do not have access to it.`,
          type: 'invalid_request_error',
          param: null,
          code: 'model_not_found',
        },
      })
    );
    return;
  }
  const input = Array.isArray(body.input) ? body.input : [];
  const hasResult = input.some((i) => i && i.type === 'function_call_output');
  const wantsTool = Array.isArray(body.tools) && body.tools.length > 0 && !hasResult;
  const model = body.model === 'gpt-4o-mini' ? 'gpt-4o-mini-2024-07-18' : body.model;
  let output, usage;
  if (wantsTool) {
    const t = body.tools[0];
    output = [
      { id: rid('fc_', 48), type: 'function_call', status: 'completed', arguments: JSON.stringify(WEATHER_ARGS), call_id: rid('call_', 24), name: t.name },
    ];
    usage = { input_tokens: 142, output_tokens: 18, total_tokens: 160 };
  } else {
    const text = hasResult ? 'It is currently 18°C and partly cloudy in Paris.' : 'The capital of France is Paris.';
    output = [
      {
        id: rid('msg_', 48),
        type: 'message',
        status: 'completed',
        content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
        role: 'assistant',
      },
    ];
    usage = { input_tokens: 187, output_tokens: 26, total_tokens: 213 };
  }
  usage.input_tokens_details = { cached_tokens: 64 };
  usage.output_tokens_details = { reasoning_tokens: 0 };
  const now = Math.floor(Date.now() / 1000);
  res.writeHead(200, { 'content-type': 'application/json', ...baseHeaders });
  res.end(
    JSON.stringify({
      id: rid('resp_', 48),
      object: 'response',
      created_at: now,
      status: 'completed',
      background: false,
      completed_at: now,
      error: null,
      incomplete_details: null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      max_tool_calls: null,
      model,
      output,
      parallel_tool_calls: true,
      previous_response_id: body.previous_response_id ?? null,
      prompt_cache_key: null,
      reasoning: { effort: null, summary: null },
      safety_identifier: null,
      service_tier: 'default',
      store: true,
      temperature: body.temperature ?? 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: (body.tools || []).map((t) => ({ ...t, strict: t.strict ?? true })),
      top_logprobs: 0,
      top_p: body.top_p ?? 1,
      truncation: 'disabled',
      usage,
      user: null,
      metadata: body.metadata || {},
    })
  );
}
