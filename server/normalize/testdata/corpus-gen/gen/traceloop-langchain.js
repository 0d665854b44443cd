// Driver: @traceloop/instrumentation-langchain (traceContent: true) with langchain 1.x createAgent,
// @langchain/openai ChatOpenAI and @langchain/core, against the mock OpenAI server on :18080.
// The instrumentation patches CallbackManager._configureSync (it does that itself in its
// constructor for the CJS module; manuallyInstrument() is called too, as its README says, and is
// a no-op when already patched). It is created BEFORE langchain / @langchain/openai are required.
'use strict';
const path = require('path');
const { setup } = require('../common');

const LIB = 'traceloop-langchain';
const npmDir = path.join(__dirname, '..', 'npm-langchain');
const { runCase, req, provider } = setup({ npmDir, lib: LIB });

const { LangChainInstrumentation } = req('@traceloop/instrumentation-langchain');
const { registerInstrumentations } = req('@opentelemetry/instrumentation');
const instrumentation = new LangChainInstrumentation({ traceContent: true });
registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider });
const callbackManagerModule = req('@langchain/core/callbacks/manager');
instrumentation.manuallyInstrument({ callbackManagerModule });
if (!callbackManagerModule.CallbackManager._traceloopPatched) throw new Error('CallbackManager not patched');

const { ChatOpenAI } = req('@langchain/openai');
const { SystemMessage, HumanMessage } = req('@langchain/core/messages');
const { createAgent, tool } = req('langchain');
const { z } = req('zod');

const SYSTEM = 'You are a concise assistant. Answer in one sentence.';
const OPENAI = { baseURL: 'http://127.0.0.1:18080/v1' };
const mkModel = (model = 'gpt-4o-mini', extra = {}) =>
  new ChatOpenAI({ model, temperature: 0.2, apiKey: 'sk-corpus-dummy', maxRetries: 0, configuration: OPENAI, ...extra });

const RUN = {
  runName: 'corpus-run',
  metadata: { session_id: 'session-corpus-1', user_id: 'user-corpus-1' },
  configurable: { thread_id: 'thread-corpus-1' },
};

const getWeather = tool(
  async ({ location, unit }) =>
    JSON.stringify({ location, temperature: 18, unit: unit || 'celsius', conditions: 'partly cloudy' }),
  {
    name: 'get_weather',
    description: 'Get the current weather for a location',
    schema: z.object({ location: z.string(), unit: z.enum(['celsius', 'fahrenheit']).optional() }),
  }
);

(async () => {
  await runCase('chat', async () => {
    const r = await mkModel().invoke([new SystemMessage(SYSTEM), new HumanMessage('What is the capital of France?')], RUN);
    console.log('  ->', r.content);
  });
  await runCase('chat_stream', async () => {
    const s = await mkModel().stream([new SystemMessage(SYSTEM), new HumanMessage('What is the capital of France?')], RUN);
    let text = '';
    for await (const c of s) text += c.content;
    console.log('  ->', text);
  });
  await runCase('agent_tool', async () => {
    const agent = createAgent({ model: mkModel(), tools: [getWeather], systemPrompt: SYSTEM, name: 'weather_agent' });
    const r = await agent.invoke({ messages: [{ role: 'user', content: 'What is the weather in Paris right now?' }] }, RUN);
    console.log('  ->', r.messages.length, 'messages; last:', r.messages[r.messages.length - 1].content);
  });
  await runCase('error', async () => {
    await mkModel('does-not-exist').invoke([new HumanMessage('What is the capital of France?')], RUN);
  });
  await provider.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
