// Driver: Vercel AI SDK v5 (`ai@5`) built-in telemetry (experimental_telemetry) with
// `@ai-sdk/openai@2` against the mock OpenAI server on :18080. `openai.chat(...)` is used
// because @ai-sdk/openai 2.x's default `openai(model)` is the Responses API, which the mock
// does not serve. The AI SDK calls `trace.getTracer('ai')` on the global provider (its own
// nested @opentelemetry/api 1.9.0 shares the global registered by common.js).
'use strict';
const path = require('path');
const { setup } = require('../common');

const LIB = 'vercel-ai-sdk-v5';
const npmDir = path.join(__dirname, '..', 'npm-aisdk5');
const { runCase, req, provider } = setup({ npmDir, lib: LIB });

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
  await runCase('stream_text', async () => {
    const r = streamText({
      model: openai.chat('gpt-4o-mini'),
      system: SYSTEM,
      prompt: 'What is the capital of France?',
      temperature: 0.2,
      maxRetries: 0,
      experimental_telemetry: telemetry,
    });
    let t = '';
    for await (const p of r.textStream) t += p;
    console.log('  ->', t);
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
