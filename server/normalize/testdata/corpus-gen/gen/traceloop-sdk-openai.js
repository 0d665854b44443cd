// Driver: @traceloop/node-server-sdk (Traceloop.initialize, its own NodeSDK + exporter) with the
// `openai` client instrumented through `instrumentModules: {openAI: OpenAI}`, against the mock
// OpenAI server on :18080.
//
// Traceloop.initialize() can run only once per process and fixes the exporter URL to
// `<baseUrl>/v1/traces`, so the driver runs ONE case per process (node gen/traceloop-sdk-openai.js
// <case>) with baseUrl = http://127.0.0.1:4318/traceloop-sdk-openai/<case>/pb. Traceloop's own
// exporter is OTLP **protobuf** only (@opentelemetry/exporter-trace-otlp-proto 0.203); that is the
// `.pb` body. For the `.json` body the driver passes, through the documented `processor` option, a
// second processor built with the SDK's own public factory `createSpanProcessor({exporter, ...})`
// wrapping the OTLP JSON exporter (exporter-trace-otlp-http 0.203, installed with the SDK), so both
// bodies carry the same spans after the same Traceloop onStart/onEnd processing. disableBatch:false
// -> BatchSpanProcessor (5 s delay); both are flushed once at the end of the case.
'use strict';
const path = require('path');
const { createRequire } = require('module');

const LIB = 'traceloop-sdk-openai';
const CASE = process.argv[2];
const req = createRequire(path.join(__dirname, '..', 'npm-traceloop-sdk', 'package.json'));
const base = `http://127.0.0.1:4318/${LIB}/${CASE}`;

const Traceloop = req('@traceloop/node-server-sdk');
const { OTLPTraceExporter: JsonExporter } = req('@opentelemetry/exporter-trace-otlp-http');
const OpenAI = req('openai').OpenAI;

const jsonProcessor = Traceloop.createSpanProcessor({
  exporter: new JsonExporter({ url: `${base}/json/v1/traces` }),
  disableBatch: false,
  allowedInstrumentationLibraries: Traceloop.ALL_INSTRUMENTATION_LIBRARIES,
});

Traceloop.initialize({
  appName: `otlp-corpus-${LIB}`,
  baseUrl: `${base}/pb`,
  apiKey: 'tl-corpus-dummy',
  disableBatch: false,
  traceContent: true,
  traceloopSyncEnabled: false,
  instrumentModules: { openAI: OpenAI },
  processor: jsonProcessor,
  silenceInitializationMessage: true,
});

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
const ASSOC = { session_id: 's-1', user_id: 'u-1' };

const cases = {
  // withWorkflow -> withTask(plan: 1st call, tool_calls) -> withTool(get_weather) -> withTask(answer: 2nd call)
  workflow_tool: () =>
    Traceloop.withWorkflow({ name: 'weather_flow', associationProperties: ASSOC }, async () => {
      const messages = [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'What is the weather in Paris right now?' },
      ];
      const first = await Traceloop.withTask({ name: 'plan' }, () =>
        client.chat.completions.create({ model: MODEL, messages, tools: TOOLS })
      );
      const msg = first.choices[0].message;
      const call = msg.tool_calls[0];
      const result = await Traceloop.withTool({ name: 'get_weather' }, async (args) => WEATHER, JSON.parse(call.function.arguments));
      messages.push(msg, { role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
      const second = await Traceloop.withTask({ name: 'answer' }, () =>
        client.chat.completions.create({ model: MODEL, messages, tools: TOOLS })
      );
      return second.choices[0].message.content;
    }),
  // plain client call, no Traceloop wrapper
  chat: async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      temperature: 0.2,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'What is the capital of France?' },
      ],
    });
    return r.choices[0].message.content;
  },
  // withAgent + conversationId + association properties around a streamed call
  agent_chat_stream: () =>
    Traceloop.withAgent({ name: 'weather_agent', conversationId: 'conv-7', associationProperties: ASSOC }, async () => {
      const s = await client.chat.completions.create({
        model: MODEL,
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: 'What is the capital of France?' },
        ],
      });
      let t = '';
      for await (const c of s) t += (c.choices[0] && c.choices[0].delta.content) || '';
      return t;
    }),
  // error inside a workflow
  error: () =>
    Traceloop.withWorkflow({ name: 'weather_flow', associationProperties: ASSOC }, async () => {
      const r = await client.chat.completions.create({
        model: 'does-not-exist',
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
      });
      return r.choices[0].message.content;
    }),
  // same, but the app catches the API error inside the workflow and returns a fallback
  error_handled: () =>
    Traceloop.withWorkflow({ name: 'weather_flow', associationProperties: ASSOC }, async () => {
      try {
        const r = await client.chat.completions.create({
          model: 'does-not-exist',
          messages: [{ role: 'user', content: 'What is the capital of France?' }],
        });
        return r.choices[0].message.content;
      } catch (e) {
        return `fallback: ${e.status} ${e.code}`;
      }
    }),
};

(async () => {
  if (!cases[CASE]) throw new Error(`unknown case ${CASE}; one of ${Object.keys(cases)}`);
  let err = null;
  let out;
  try {
    out = await cases[CASE]();
  } catch (e) {
    err = e;
  }
  await new Promise((r) => setTimeout(r, 300));
  await Traceloop.forceFlush();
  await jsonProcessor.forceFlush();
  console.log(`[${LIB}] ${CASE}: ${err ? 'app saw error: ' + String(err.message || err).slice(0, 160) : 'ok -> ' + out}`);
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
