// Decodes an OTLP ExportTraceServiceRequest, either OTLP/JSON or protobuf, into one readable
// shape (the same shape as the shared corpus' *.decoded.json): resource and attributes as maps,
// hex IDs, kind/status names, ISO start time, duration in ms, events, links.
// The protobuf side is a small hand-written wire-format reader for the trace messages of
// opentelemetry-proto (field numbers from trace/v1/trace.proto, common/v1/common.proto).
'use strict';

const KIND = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS = ['UNSET', 'OK', 'ERROR'];

// ---------------------------------------------------------------- protobuf wire reader
function readFields(buf) {
  const out = [];
  let i = 0;
  const varint = () => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
    }
    return r;
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wt = key & 7;
    if (wt === 0) out.push({ field, wt, v: varint() });
    else if (wt === 1) {
      out.push({ field, wt, b: buf.subarray(i, i + 8) });
      i += 8;
    } else if (wt === 2) {
      const len = Number(varint());
      out.push({ field, wt, b: buf.subarray(i, i + len) });
      i += len;
    } else if (wt === 5) {
      out.push({ field, wt, b: buf.subarray(i, i + 4) });
      i += 4;
    } else throw new Error('unsupported wire type ' + wt);
  }
  return out;
}
const str = (b) => Buffer.from(b).toString('utf8');
const hex = (b) => Buffer.from(b).toString('hex');
const u64 = (b) => Buffer.from(b).readBigUInt64LE(0);

function pbAnyValue(buf) {
  const f = readFields(buf);
  if (!f.length) return null;
  const x = f[f.length - 1];
  switch (x.field) {
    case 1: return str(x.b);
    case 2: return x.v !== 0n;
    case 3: return Number(BigInt.asIntN(64, x.v));
    case 4: return Buffer.from(x.b).readDoubleLE(0);
    case 5: return readFields(x.b).filter((y) => y.field === 1).map((y) => pbAnyValue(y.b));
    case 6: return pbAttrs(readFields(x.b).filter((y) => y.field === 1));
    case 7: return Buffer.from(x.b).toString('base64');
    default: return null;
  }
}
function pbAttrs(kvFields) {
  const o = {};
  for (const kv of kvFields) {
    const f = readFields(kv.b);
    const k = f.find((y) => y.field === 1);
    const v = f.find((y) => y.field === 2);
    o[k ? str(k.b) : ''] = v ? pbAnyValue(v.b) : null;
  }
  return o;
}
const nanosToIso = (n) => new Date(Number(BigInt(n) / 1000000n)).toISOString();
const durMs = (s, e) => Number(BigInt(e) - BigInt(s)) / 1e6;

function pbSpan(buf) {
  const f = readFields(buf);
  const get = (n) => f.find((y) => y.field === n);
  const all = (n) => f.filter((y) => y.field === n);
  const s = {
    name: get(5) ? str(get(5).b) : '',
    kind: KIND[get(6) ? Number(get(6).v) : 0],
    traceId: hex(get(1).b),
    spanId: hex(get(2).b),
  };
  if (get(4) && get(4).b.length) s.parentSpanId = hex(get(4).b);
  const start = get(7) ? u64(get(7).b) : 0n;
  const end = get(8) ? u64(get(8).b) : 0n;
  s.start = nanosToIso(start);
  s.durationMs = durMs(start, end);
  const st = get(15) ? readFields(get(15).b) : [];
  const code = st.find((y) => y.field === 3);
  const msg = st.find((y) => y.field === 2);
  s.status = { code: STATUS[code ? Number(code.v) : 0] };
  if (msg && msg.b.length) s.status.message = str(msg.b);
  s.attributes = pbAttrs(all(9));
  s.events = all(11).map((e) => {
    const ef = readFields(e.b);
    const t = ef.find((y) => y.field === 1);
    const n = ef.find((y) => y.field === 2);
    return { name: n ? str(n.b) : '', time: nanosToIso(t ? u64(t.b) : 0n), attributes: pbAttrs(ef.filter((y) => y.field === 3)) };
  });
  const links = all(13).map((l) => {
    const lf = readFields(l.b);
    return { traceId: hex(lf.find((y) => y.field === 1).b), spanId: hex(lf.find((y) => y.field === 2).b), attributes: pbAttrs(lf.filter((y) => y.field === 4)) };
  });
  if (links.length) s.links = links;
  return s;
}

function decodePb(buf) {
  return {
    resourceSpans: readFields(buf)
      .filter((x) => x.field === 1)
      .map((rs) => {
        const f = readFields(rs.b);
        const res = f.find((y) => y.field === 1);
        return {
          resource: res ? pbAttrs(readFields(res.b).filter((y) => y.field === 1)) : {},
          scopeSpans: f
            .filter((y) => y.field === 2)
            .map((ss) => {
              const sf = readFields(ss.b);
              const sc = sf.find((y) => y.field === 1);
              const scf = sc ? readFields(sc.b) : [];
              const name = scf.find((y) => y.field === 1);
              const ver = scf.find((y) => y.field === 2);
              const scope = { name: name ? str(name.b) : '' };
              if (ver && ver.b.length) scope.version = str(ver.b);
              return { scope, spans: sf.filter((y) => y.field === 2).map((sp) => pbSpan(sp.b)) };
            }),
        };
      }),
  };
}

// ---------------------------------------------------------------- OTLP/JSON
function jAny(v) {
  if (!v) return null;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return (v.arrayValue.values || []).map(jAny);
  if ('kvlistValue' in v) return jAttrs(v.kvlistValue.values || []);
  if ('bytesValue' in v) return v.bytesValue;
  return null;
}
function jAttrs(list) {
  const o = {};
  for (const kv of list || []) o[kv.key] = jAny(kv.value);
  return o;
}
function decodeJson(obj) {
  return {
    resourceSpans: (obj.resourceSpans || []).map((rs) => ({
      resource: jAttrs(rs.resource && rs.resource.attributes),
      scopeSpans: (rs.scopeSpans || []).map((ss) => {
        const scope = { name: (ss.scope && ss.scope.name) || '' };
        if (ss.scope && ss.scope.version) scope.version = ss.scope.version;
        return {
          scope,
          spans: (ss.spans || []).map((sp) => {
            const s = { name: sp.name, kind: KIND[sp.kind || 0], traceId: sp.traceId, spanId: sp.spanId };
            if (sp.parentSpanId) s.parentSpanId = sp.parentSpanId;
            s.start = nanosToIso(sp.startTimeUnixNano);
            s.durationMs = durMs(sp.startTimeUnixNano, sp.endTimeUnixNano);
            s.status = { code: STATUS[(sp.status && sp.status.code) || 0] };
            if (sp.status && sp.status.message) s.status.message = sp.status.message;
            s.attributes = jAttrs(sp.attributes);
            s.events = (sp.events || []).map((e) => ({ name: e.name, time: nanosToIso(e.timeUnixNano), attributes: jAttrs(e.attributes) }));
            if (sp.links && sp.links.length)
              s.links = sp.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: jAttrs(l.attributes) }));
            return s;
          }),
        };
      }),
    })),
  };
}

module.exports = { decodePb, decodeJson };
