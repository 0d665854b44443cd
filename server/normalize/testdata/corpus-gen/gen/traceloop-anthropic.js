// Driver: @traceloop/instrumentation-anthropic (traceContent: true) + @anthropic-ai/sdk 0.137.0
// against the mock Anthropic server on :18081. The SDK's own native tracing (scope
// com.anthropic.sdk.typescript) is left at its defaults, so its span is exported too.
'use strict';
const path = require('path');
const { setup } = require('../common');

const LIB = 'traceloop-anthropic';
const npmDir = path.join(__dirname, '..', 'npm-anthropic');
const { runCase, req, provider } = setup({ npmDir, lib: LIB });

// Register the instrumentation BEFORE the client module is required.
const { AnthropicInstrumentation } = req('@traceloop/instrumentation-anthropic');
const { registerInstrumentations } = req('@opentelemetry/instrumentation');
const instrumentation = new AnthropicInstrumentation({ traceContent: true });
registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider });

const sdk = req('@anthropic-ai/sdk');
const Anthropic = sdk.Anthropic || sdk.default;
if (!Anthropic.Messages.prototype.create.__wrapped) {
  // fall back to the library's documented manual patching
  console.log('auto-patch did not happen, using manuallyInstrument()');
  instrumentation.manuallyInstrument(sdk);
}
if (!Anthropic.Messages.prototype.create.__wrapped) throw new Error('Messages.create is not instrumented');

const client = new Anthropic({ baseURL: 'http://127.0.0.1:18081', apiKey: 'sk-ant-corpus-dummy', maxRetries: 0 });

const MODEL = 'claude-sonnet-4-6';
const SYSTEM = 'You are a concise assistant. Answer in one sentence.';
const TOOLS = [
  {
    name: 'get_weather',
    description: 'Get the current weather for a location',
    input_schema: {
      type: 'object',
      properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['location'],
    },
  },
];
const WEATHER = { location: 'Paris, France', temperature: 18, unit: 'celsius', conditions: 'partly cloudy' };

// Accumulate a raw SSE event stream (client.messages.create({stream:true})) into a message.
async function collect(stream) {
  const msg = { content: [] };
  for await (const ev of stream) {
    if (ev.type === 'message_start') Object.assign(msg, ev.message, { content: [] });
    else if (ev.type === 'content_block_start') msg.content[ev.index] = { ...ev.content_block, _json: '' };
    else if (ev.type === 'content_block_delta') {
      const b = msg.content[ev.index];
      if (ev.delta.type === 'text_delta') b.text += ev.delta.text;
      if (ev.delta.type === 'input_json_delta') b._json += ev.delta.partial_json;
    } else if (ev.type === 'message_delta') {
      msg.stop_reason = ev.delta.stop_reason;
      msg.usage = { ...msg.usage, ...ev.usage };
    }
  }
  msg.content = msg.content.map(({ _json, ...b }) => (b.type === 'tool_use' ? { ...b, input: _json ? JSON.parse(_json) : {} } : b));
  return msg;
}

async function toolLoop(stream) {
  const messages = [{ role: 'user', content: 'What is the weather in Paris right now?' }];
  const call = async () => {
    const params = { model: MODEL, max_tokens: 1024, system: SYSTEM, tools: TOOLS, messages: [...messages] };
    return stream ? collect(await client.messages.create({ ...params, stream: true })) : client.messages.create(params);
  };
  const first = await call();
  const toolUse = first.content.find((b) => b.type === 'tool_use');
  if (!toolUse) throw new Error('mock did not answer with tool_use');
  messages.push({ role: 'assistant', content: first.content.map((b) => (b.type === 'text' ? { type: 'text', text: b.text } : { type: 'tool_use', id: b.id, name: b.name, input: b.input })) });
  messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: JSON.stringify(WEATHER) }] });
  const second = await call();
  return second;
}

(async () => {
  await runCase('messages', async () => {
    const r = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      temperature: 0.2,
      system: SYSTEM,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
      metadata: { user_id: 'user-1234' },
    });
    console.log('  ->', r.content[0].text);
  });
  await runCase('messages_stream', async () => {
    const s = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      temperature: 0.2,
      system: SYSTEM,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
      stream: true,
    });
    const m = await collect(s);
    console.log('  ->', m.content[0].text);
  });
  await runCase('tool_use', async () => {
    const r = await toolLoop(false);
    console.log('  ->', r.content[0].text);
  });
  await runCase('tool_use_stream', async () => {
    const r = await toolLoop(true);
    console.log('  ->', r.content[0].text);
  });
  await runCase('error', async () => {
    await client.messages.create({
      model: 'does-not-exist',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    });
  });
  await provider.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
