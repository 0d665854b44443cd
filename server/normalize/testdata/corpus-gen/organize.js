// Moves captured bodies into corpus/<lib>/<case>.<pb|json>, writes <case>.decoded.json (from the
// JSON body), checks that the protobuf body decodes to the same thing, writes VERSIONS.json and
// prints a per-case summary (spans, scopes, attribute keys).
'use strict';
const fs = require('fs');
const path = require('path');
const { decodePb, decodeJson } = require('./decode');

const ROOT = __dirname;
const CAP = path.join(ROOT, 'captured');
const OUT = path.join(ROOT, 'corpus');
const only = process.argv.slice(2); // optional list of libs

const rows = fs
  .readFileSync(path.join(CAP, 'index.tsv'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split('\t'));
const picked = {};
for (const [file, url] of rows) {
  const m = /^\/([^/]+)\/([^/]+)\/(pb|json)\/v1\/traces$/.exec(url);
  if (!m) continue;
  const [, lib, cs, fmt] = m;
  if (only.length && !only.includes(lib)) continue;
  const k = `${lib}/${cs}/${fmt}`;
  if (picked[k]) {
    console.warn(`WARN: more than one body for ${k}; keeping the first (${picked[k]}), ignoring ${file}`);
    continue;
  }
  picked[k] = file;
}

const summary = {};
for (const k of Object.keys(picked).sort()) {
  const [lib, cs, fmt] = k.split('/');
  if (fmt !== 'json') continue;
  const jsonFile = picked[k];
  const pbFile = picked[`${lib}/${cs}/pb`];
  fs.mkdirSync(path.join(OUT, lib), { recursive: true });
  const jsonBuf = fs.readFileSync(path.join(CAP, jsonFile));
  fs.writeFileSync(path.join(OUT, lib, `${cs}.json`), jsonBuf);
  const dj = decodeJson(JSON.parse(jsonBuf.toString('utf8')));
  fs.writeFileSync(path.join(OUT, lib, `${cs}.decoded.json`), JSON.stringify(dj, null, 2) + '\n');
  let same = 'no pb';
  if (pbFile) {
    const pbBuf = fs.readFileSync(path.join(CAP, pbFile));
    fs.writeFileSync(path.join(OUT, lib, `${cs}.pb`), pbBuf);
    const dp = decodePb(pbBuf);
    same = JSON.stringify(dp) === JSON.stringify(dj) ? 'pb==json' : 'PB/JSON DIFFER';
    if (same !== 'pb==json') fs.writeFileSync(path.join(CAP, `${lib}__${cs}.pbdecoded.json`), JSON.stringify(dp, null, 2));
  }
  const spans = [];
  for (const rs of dj.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ scope: ss.scope.name, ...s });
  (summary[lib] = summary[lib] || {})[cs] = { spans: spans.length, check: same, list: spans };
}

for (const lib of Object.keys(summary)) {
  console.log(`\n=== ${lib}`);
  for (const [cs, info] of Object.entries(summary[lib])) {
    console.log(`  ${cs}: ${info.spans} spans, traces=${new Set(info.list.map((s) => s.traceId)).size}, ${info.check}`);
    for (const s of info.list)
      console.log(
        `     - [${s.scope}] ${s.name} ${s.kind} status=${s.status.code}${s.parentSpanId ? ' parent=' + s.parentSpanId.slice(0, 6) : ' ROOT'} id=${s.spanId.slice(0, 6)} events=${s.events.map((e) => e.name).join(',')}`
      );
  }
  const keys = {};
  for (const info of Object.values(summary[lib]))
    for (const s of info.list) for (const k of Object.keys(s.attributes)) (keys[s.scope] = keys[s.scope] || new Set()).add(k);
  for (const [scope, ks] of Object.entries(keys)) console.log(`  keys [${scope}]: ${[...ks].sort().join(', ')}`);
}

// VERSIONS.json: every direct dependency of each npm-* dir, as installed, plus node
const versions = {};
for (const d of fs.readdirSync(ROOT).filter((x) => x.startsWith('npm-')).sort()) {
  const pj = JSON.parse(fs.readFileSync(path.join(ROOT, d, 'package.json'), 'utf8'));
  const names = Object.keys(pj.dependencies || {}).sort();
  const extra = ['@opentelemetry/instrumentation', '@opentelemetry/otlp-transformer', '@traceloop/ai-semantic-conventions', '@traceloop/instrumentation-utils', '@opentelemetry/api-logs', 'openai',
    '@opentelemetry/exporter-trace-otlp-proto/node_modules/@opentelemetry/otlp-transformer',
    '@opentelemetry/exporter-trace-otlp-proto/node_modules/@opentelemetry/otlp-exporter-base', '@opentelemetry/otlp-exporter-base',
    // added for npm-aisdk5 / npm-oivercel / npm-traceloop-sdk / npm-oi-openai
    'ai/node_modules/@opentelemetry/api', '@ai-sdk/provider', '@ai-sdk/provider-utils', '@ai-sdk/gateway',
    '@arizeai/openinference-core', '@arizeai/openinference-genai', '@arizeai/openinference-semantic-conventions',
    '@traceloop/instrumentation-openai', '@opentelemetry/sdk-node', '@opentelemetry/sdk-trace-node', '@opentelemetry/sdk-trace-base',
    '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-trace-otlp-proto', '@opentelemetry/resources', '@opentelemetry/api',
    '@arizeai/openinference-instrumentation-openai/node_modules/@opentelemetry/instrumentation'];
  for (const n of [...new Set([...names, ...extra])]) {
    const p = path.join(ROOT, d, 'node_modules', n, 'package.json');
    if (!fs.existsSync(p)) continue;
    const v = JSON.parse(fs.readFileSync(p, 'utf8')).version;
    const pkg = n.split('/node_modules/').pop();
    versions[`${d}:${n}`] = `${pkg}@${v}`;
  }
}
versions.node = process.version;
fs.mkdirSync(OUT, { recursive: true });
fs.writeFileSync(path.join(OUT, 'VERSIONS.json'), JSON.stringify(versions, null, 2) + '\n');
