// OTel SDK setup shared by the drivers.
//
// One global TracerProvider (sdk-trace 3.x). For every case the harness creates two fresh,
// unmodified BatchSpanProcessors: one with the OTLP protobuf exporter
// (@opentelemetry/exporter-trace-otlp-proto) and one with the OTLP JSON exporter
// (@opentelemetry/exporter-trace-otlp-http), posting to
//   http://127.0.0.1:4318/<lib>/<case>/<pb|json>/v1/traces
// and flushes them at the end of the case. So each case is exactly one request body per format,
// and the .pb and .json of a case hold the same spans (same IDs).
//
// The only harness code between the provider and the real processors is CaseRouter, which
// forwards onStart/onEnding/onEnd to the processors of the current case (the provider takes its
// processors at construction time, so they cannot be swapped otherwise).
'use strict';
const path = require('path');
const { createRequire } = require('module');

// Options added later (defaults keep the original behaviour):
//  - makeProcessors({ ProtoExporter, JsonExporter, base, req }) -> array of span processors for one
//    case, instead of the two plain BatchSpanProcessors (used by openinference-vercel, whose
//    processors wrap the exporters).
//  - npm dirs pinned to the OTel JS 2.x stack (no @opentelemetry/sdk-trace) use
//    BasicTracerProvider / BatchSpanProcessor(exporter, config) from @opentelemetry/sdk-trace-base.
function setup({ npmDir, lib, makeProcessors }) {
  const req = createRequire(path.join(npmDir, 'package.json'));
  const api = req('@opentelemetry/api');
  let TracerProvider, makeBatch;
  try {
    const m = req('@opentelemetry/sdk-trace');
    TracerProvider = m.TracerProvider;
    makeBatch = (exporter) => new m.BatchSpanProcessor({ exporter, scheduledDelayMillis: 600000 });
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    const m = req('@opentelemetry/sdk-trace-base');
    TracerProvider = m.BasicTracerProvider;
    makeBatch = (exporter) => new m.BatchSpanProcessor(exporter, { scheduledDelayMillis: 600000 });
  }
  const { resourceFromAttributes, defaultResource } = req('@opentelemetry/resources');
  const { AsyncLocalStorageContextManager } = req('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = req('@opentelemetry/core');
  const { OTLPTraceExporter: ProtoExporter } = req('@opentelemetry/exporter-trace-otlp-proto');
  const { OTLPTraceExporter: JsonExporter } = req('@opentelemetry/exporter-trace-otlp-http');

  let current = [];
  const router = {
    onStart(span, ctx) {
      for (const p of current) p.onStart(span, ctx);
    },
    onEnding(span) {
      for (const p of current) if (p.onEnding) p.onEnding(span);
    },
    onEnd(span) {
      for (const p of current) p.onEnd(span);
    },
    async forceFlush() {
      await Promise.all(current.map((p) => p.forceFlush()));
    },
    async shutdown() {
      await Promise.all(current.map((p) => p.shutdown()));
    },
  };

  const resource = defaultResource().merge(
    resourceFromAttributes({
      'service.name': `otlp-corpus-${lib}`,
      'service.version': '1.0.0',
      'deployment.environment.name': 'corpus',
    })
  );
  const provider = new TracerProvider({ resource, spanProcessors: [router] });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  api.trace.setGlobalTracerProvider(provider);

  async function runCase(caseName, fn) {
    const base = `http://127.0.0.1:4318/${lib}/${caseName}`;
    current = makeProcessors
      ? makeProcessors({ ProtoExporter, JsonExporter, base, req })
      : [
          makeBatch(new ProtoExporter({ url: `${base}/pb/v1/traces` })),
          makeBatch(new JsonExporter({ url: `${base}/json/v1/traces` })),
        ];
    let err = null;
    try {
      await fn();
    } catch (e) {
      err = e;
    }
    // let spans that end asynchronously (stream wrappers) settle
    await new Promise((r) => setTimeout(r, 300));
    await router.forceFlush();
    await router.shutdown();
    current = [];
    console.log(`[${lib}] ${caseName}: ${err ? 'app saw error: ' + (err.message || err).toString().slice(0, 160) : 'ok'}`);
    return err;
  }

  return { api, provider, runCase, req };
}

module.exports = { setup };
