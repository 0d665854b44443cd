// Driver: @arizeai/openinference-instrumentation-openai 4.2.7 (still the latest on npm, the same
// version as the shared corpus' openinference-openai) with the latest `openai` client 7.60.0
// (the corpus used 6.49.0), against the mock OpenAI server on :18080 (/v1/chat/completions and the
// /v1/responses endpoint added to servers.js for this driver).
'use strict';
const path = require('path');
const { setup } = require('../common');

const LIB = 'openinference-openai-latest';
const npmDir = path.join(__dirname, '..', 'npm-oi-openai');
const { runCase, req, provider } = setup({ npmDir, lib: LIB });

// Create the instrumentation BEFORE the client module is required (require hook, "^7.0.0").
const oi = req('@arizeai/openinference-instrumentation-openai');
const instrumentation = new oi.OpenAIInstrumentation();
instrumentation.setTracerProvider(provider);
const openaiMod = req('openai');
if (!oi.isPatched()) {
  console.log('auto-patch did not happen, using manuallyInstrument()');
  instrumentation.manuallyInstrument(openaiMod);
}
if (!oi.isPatched()) throw new Error('openai is not instrumented');
const OpenAI = openaiMod.OpenAI;
const client = new OpenAI({ baseURL: 'http://127.0.0.1:18080/v1', apiKey: 'sk-corpus-dummy', maxRetries: 0 });

const MODEL = 'gpt-4o-mini';
const SYSTEM = 'You are a concise assistant. Answer in one sentence.';
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Get the current weather for a location',
      parameters: {
        type: 'object',
        properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        required: ['location'],
      },
    },
  },
];
const WEATHER = { location: 'Paris, France', temperature: 18, unit: 'celsius', conditions: 'partly cloudy' };

async function collect(stream) {
  const msg = { role: 'assistant', content: '', tool_calls: [] };
  for await (const c of stream) {
    const d = c.choices[0] && c.choices[0].delta;
    if (!d) continue;
    if (d.content) msg.content += d.content;
    for (const tc of d.tool_calls || []) {
      const t = (msg.tool_calls[tc.index] = msg.tool_calls[tc.index] || { id: '', type: 'function', function: { name: '', arguments: '' } });
      if (tc.id) t.id = tc.id;
      if (tc.function && tc.function.name) t.function.name += tc.function.name;
      if (tc.function && tc.function.arguments) t.function.arguments += tc.function.arguments;
    }
  }
  if (!msg.tool_calls.length) delete msg.tool_calls;
  return msg;
}

(async () => {
  await runCase('chat', async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      temperature: 0.2,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'What is the capital of France?' },
      ],
    });
    console.log('  ->', r.choices[0].message.content);
  });
  await runCase('chat_tool_stream', async () => {
    const messages = [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: 'What is the weather in Paris right now?' },
    ];
    const params = { model: MODEL, tools: TOOLS, stream: true, stream_options: { include_usage: true } };
    const first = await collect(await client.chat.completions.create({ ...params, messages }));
    const call = first.tool_calls[0];
    messages.push({ role: 'assistant', content: null, tool_calls: first.tool_calls }, { role: 'tool', tool_call_id: call.id, content: JSON.stringify(WEATHER) });
    const second = await collect(await client.chat.completions.create({ ...params, messages }));
    console.log('  ->', second.content);
  });
  await runCase('responses', async () => {
    const r = await client.responses.create({
      model: MODEL,
      instructions: SYSTEM,
      input: 'What is the capital of France?',
      temperature: 0.2,
    });
    console.log('  ->', r.output_text);
  });
  await runCase('responses_tool', async () => {
    const tools = [{ type: 'function', name: 'get_weather', description: TOOLS[0].function.description, parameters: TOOLS[0].function.parameters, strict: false }];
    const input = [{ role: 'user', content: 'What is the weather in Paris right now?' }];
    const first = await client.responses.create({ model: MODEL, instructions: SYSTEM, input, tools });
    const fc = first.output.find((o) => o.type === 'function_call');
    input.push(fc, { type: 'function_call_output', call_id: fc.call_id, output: JSON.stringify(WEATHER) });
    const second = await client.responses.create({ model: MODEL, instructions: SYSTEM, input, tools });
    console.log('  ->', second.output_text);
  });
  await runCase('error', async () => {
    await client.chat.completions.create({ model: 'does-not-exist', messages: [{ role: 'user', content: 'What is the capital of France?' }] });
  });
  await provider.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
