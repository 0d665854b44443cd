// Driver: @arizeai/openinference-vercel 2.8.1 (the latest 2.x; 3.x targets AI SDK v7 only) with
// Vercel AI SDK v6 (`ai@6`, experimental_telemetry) and `@ai-sdk/openai@3`, against the mock
// OpenAI server on :18080.
//
// For every case the harness creates two OpenInferenceBatchSpanProcessors (documented
// spanFilter: isOpenInferenceSpan), one wrapping the OTLP protobuf exporter and one wrapping the
// OTLP JSON exporter, so both bodies are what a user of this processor sends. The processor
// extends @opentelemetry/sdk-trace-base's BatchSpanProcessor, which (2.x) requires
// @opentelemetry/api < 1.10, so this npm dir is pinned to the OTel JS 2.x stack
// (sdk-trace-base 2.12.1, exporters 0.223.1, api 1.9.1) and the resource's telemetry.sdk.version
// is 2.12.1.
'use strict';
const path = require('path');
const { setup } = require('../common');

const LIB = 'openinference-vercel';
const npmDir = path.join(__dirname, '..', 'npm-oivercel');
const { createRequire } = require('module');
const oi = createRequire(path.join(npmDir, 'package.json'))('@arizeai/openinference-vercel');

const { runCase, req, provider } = setup({
  npmDir,
  lib: LIB,
  makeProcessors: ({ ProtoExporter, JsonExporter, base }) => [
    new oi.OpenInferenceBatchSpanProcessor({
      exporter: new ProtoExporter({ url: `${base}/pb/v1/traces` }),
      spanFilter: oi.isOpenInferenceSpan,
      config: { scheduledDelayMillis: 600000 },
    }),
    new oi.OpenInferenceBatchSpanProcessor({
      exporter: new JsonExporter({ url: `${base}/json/v1/traces` }),
      spanFilter: oi.isOpenInferenceSpan,
      config: { scheduledDelayMillis: 600000 },
    }),
  ],
});

const { generateText, streamText, tool, stepCountIs } = req('ai');
const { createOpenAI } = req('@ai-sdk/openai');
const { z } = req('zod');

const openai = createOpenAI({ baseURL: 'http://127.0.0.1:18080/v1', apiKey: 'sk-corpus-dummy' });
const SYSTEM = 'You are a concise assistant. Answer in one sentence.';
const telemetry = {
  isEnabled: true,
  recordInputs: true,
  recordOutputs: true,
  functionId: 'weather',
  metadata: { sessionId: 'session-42', userId: 'user-1234' },
};
const WEATHER = { location: 'Paris, France', temperature: 18, unit: 'celsius', conditions: 'partly cloudy' };
const tools = {
  get_weather: tool({
    description: 'Get the current weather for a location',
    inputSchema: z.object({ location: z.string(), unit: z.enum(['celsius', 'fahrenheit']).optional() }),
    execute: async () => WEATHER,
  }),
};

(async () => {
  await runCase('generate_text', async () => {
    const r = await generateText({
      model: openai.chat('gpt-4o-mini'),
      system: SYSTEM,
      prompt: 'What is the capital of France?',
      temperature: 0.2,
      maxRetries: 0,
      experimental_telemetry: telemetry,
    });
    console.log('  ->', r.text);
  });
  await runCase('tool_loop', async () => {
    const r = await generateText({
      model: openai.chat('gpt-4o-mini'),
      system: SYSTEM,
      prompt: 'What is the weather in Paris right now?',
      tools,
      stopWhen: stepCountIs(5),
      maxRetries: 0,
      experimental_telemetry: telemetry,
    });
    console.log('  ->', r.steps.length, 'steps:', r.text);
  });
  await runCase('tool_loop_stream', async () => {
    const r = streamText({
      model: openai.chat('gpt-4o-mini'),
      system: SYSTEM,
      prompt: 'What is the weather in Paris right now?',
      tools,
      stopWhen: stepCountIs(5),
      maxRetries: 0,
      experimental_telemetry: telemetry,
    });
    let t = '';
    for await (const p of r.textStream) t += p;
    console.log('  ->', (await r.steps).length, 'steps:', t);
  });
  await runCase('error', async () => {
    await generateText({
      model: openai.chat('does-not-exist'),
      system: SYSTEM,
      prompt: 'What is the capital of France?',
      maxRetries: 0,
      experimental_telemetry: telemetry,
    });
  });
  await provider.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
