package clickhouse

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

// emulator keeps the tables the writer inserts into, with the engines'
// semantics as FINAL reads see them (ReplacingMergeTree by version and
// is_deleted, VersionedCollapsingMergeTree by sign and version) and the
// materialized views' sums, so that tests can check what the writer
// stores without a server. It answers the writer's own read (trace
// states).
type emulator struct {
	spans       map[string]erow // sort key → newest row
	state       map[string]int  // (project, trace, span, version) → net sign
	stateRows   map[string]erow // (project, trace, span, version) → the +1 row
	stateAll    []erow          // every span_state row inserted, as a read without FINAL sees them
	convTraces  map[string]erow
	occurrences map[string]erow
	content     map[string]erow
	versions    map[string]*rollup // project|agent|version
	minutes     map[string]*rollup // project|agent|minute
	convs       map[string]*rollup // project|conv_key: the conversations rollup (spans, last)
	shuffle     *rand.Rand         // the order reads return rows in
}

type erow map[string]any

type rollup struct {
	spans, invocations, errors, durationMs, ended int64
	tok                                           [5]int64
	first, last                                   int64
	stale                                         int64
	seen                                          bool
}

func newEmulator() *emulator {
	return &emulator{
		spans: map[string]erow{}, state: map[string]int{}, stateRows: map[string]erow{},
		convTraces: map[string]erow{}, occurrences: map[string]erow{}, content: map[string]erow{},
		versions: map[string]*rollup{}, minutes: map[string]*rollup{}, convs: map[string]*rollup{},
		shuffle: rand.New(rand.NewPCG(1, 2)),
	}
}

var insertRE = regexp.MustCompile("^INSERT INTO `[^`]+`\\.`([^`]+)` \\(([^)]*)\\)$")

func key(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		switch x := p.(type) {
		case time.Time:
			s[i] = x.UTC().Format(time.RFC3339Nano)
		default:
			s[i] = fmtValue(p)
		}
	}
	return strings.Join(s, "|")
}

// replace keeps the row with the highest version (the later insert on a
// tie), as ReplacingMergeTree(version) does.
func replace(m map[string]erow, k string, r erow) {
	old, ok := m[k]
	if !ok || r["version"].(uint64) >= old["version"].(uint64) {
		m[k] = r
	}
}

func (e *emulator) apply(t *testing.T, calls []call) {
	t.Helper()
	for _, c := range calls {
		if c.kind != "insert" {
			continue
		}
		m := insertRE.FindStringSubmatch(c.sql)
		if m == nil {
			t.Fatalf("emulator: unexpected insert %q", c.sql)
		}
		cols := strings.Split(m[2], ", ")
		for _, vals := range c.rows {
			if len(vals) != len(cols) {
				t.Fatalf("emulator: %s: %d values for %d columns", m[1], len(vals), len(cols))
			}
			r := erow{}
			for i, col := range cols {
				r[col] = vals[i]
			}
			e.insert(t, m[1], r)
		}
	}
}

func (e *emulator) insert(t *testing.T, table string, r erow) {
	switch table {
	case "spans":
		replace(e.spans, key(r["project_id"], r["started_at"], r["span_id"], r["trace_id"]), r)
	case "span_state":
		k := key(r["project_id"], r["trace_id"], r["span_id"], r["version"])
		sign := int(r["sign"].(int8))
		e.state[k] += sign
		e.stateAll = append(e.stateAll, r)
		if sign > 0 {
			e.stateRows[k] = r
		}
		if e.state[k] < 0 || e.state[k] > 1 {
			t.Errorf("emulator: span_state %s: net sign %d (a cancel without its state, or a state twice)", k, e.state[k])
		}
		e.mv(r)
	case "conv_traces":
		replace(e.convTraces, key(r["project_id"], r["conv_key"], r["trace_id"]), r)
	case "message_occurrences":
		replace(e.occurrences, key(r["project_id"], r["digest"], r["conv_key"], r["role"], r["trace_id"]), r)
	case "message_content":
		k := key(r["project_id"], r["digest"])
		if old, ok := e.content[k]; !ok || !r["refreshed_at"].(time.Time).Before(old["refreshed_at"].(time.Time)) {
			e.content[k] = r
		}
	case "weave_migrations", "annotations", "pending_events":
	default:
		t.Fatalf("emulator: insert into unknown table %s", table)
	}
}

// mv applies the materialized views of span_state: the agent rollups and
// the conversations rollup.
func (e *emulator) mv(r erow) {
	sign := int64(r["sign"].(int8))
	started := r["started_at"].(time.Time)
	ended := r["ended_at"].(*time.Time)
	ck := r["project_id"].(string) + "|" + r["conv_key"].(string)
	c := e.convs[ck]
	if c == nil {
		c = &rollup{}
		e.convs[ck] = c
	}
	c.spans += sign
	if sign > 0 {
		last := started.UnixNano()
		if ended != nil && ended.After(started) {
			last = ended.UnixNano()
		}
		c.last, c.seen = max(c.last, last), true
	}
	agent := r["eff_agent"].(string)
	if agent == "" {
		return
	}
	inv := r["operation_name"] == "invoke_agent"
	var dur int64
	if inv && ended != nil && ended.After(started) {
		dur = ended.Sub(started).Nanoseconds() / 1e6
	}
	counted := r["counted"].(uint8) == 1
	add := func(m map[string]*rollup, k string, stale bool) {
		x := m[k]
		if x == nil {
			x = &rollup{}
			m[k] = x
		}
		x.spans += sign
		if inv {
			x.invocations += sign
			x.durationMs += sign * dur
			if ended != nil {
				x.ended += sign
			}
		}
		if r["status_code"] == "ERROR" {
			x.errors += sign
		}
		if counted {
			for i, col := range []string{"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens"} {
				if p := r[col].(*int64); p != nil {
					x.tok[i] += sign * *p
				}
			}
		}
		if sign > 0 {
			n := started.UnixNano()
			if !x.seen || n < x.first {
				x.first = n
			}
			if !x.seen || n > x.last {
				x.last = n
			}
			x.seen = true
		} else if stale {
			x.stale++
		}
	}
	project := r["project_id"].(string)
	add(e.versions, project+"|"+agent+"|"+r["eff_version"].(string), r["stale_version"].(uint8) == 1)
	add(e.minutes, project+"|"+agent+"|"+fmtValue(r["minute"]), false)
}

// agents is what QueryAgents reads (agentRowsSQL): the live version
// groups of agent_versions (spans left in them) summed by agent.
func (e *emulator) agents() map[string]*rollup {
	out := map[string]*rollup{}
	for k, v := range e.versions {
		if v.spans <= 0 {
			continue
		}
		agent := k[:strings.LastIndexByte(k, '|')]
		a := out[agent]
		if a == nil {
			a = &rollup{first: v.first, last: v.last}
			out[agent] = a
		}
		a.spans += v.spans
		a.invocations += v.invocations
		a.errors += v.errors
		a.durationMs += v.durationMs
		a.ended += v.ended
		for i := range a.tok {
			a.tok[i] += v.tok[i]
		}
		a.first, a.last = min(a.first, v.first), max(a.last, v.last)
		a.stale += v.stale
	}
	return out
}

// liveStates are the span_state rows FINAL returns.
func (e *emulator) liveStates() []erow {
	var out []erow
	for k, n := range e.state {
		if n == 1 {
			out = append(out, e.stateRows[k])
		}
	}
	return out
}

func live(m map[string]erow) []erow {
	var out []erow
	for _, r := range m {
		if d, ok := r["is_deleted"]; ok && d.(uint8) == 1 {
			continue
		}
		out = append(out, r)
	}
	return out
}

// respond answers the writer's reads.
func (e *emulator) respond(sql string, params map[string]any) [][]any {
	switch {
	case strings.Contains(sql, "`span_state` WHERE project_id = {project:String} AND trace_id IN {traces:Array(String)}"):
		// Without FINAL: every row inserted, cancel rows included, in an
		// order of their own (parts are read in any order).
		traces := map[string]bool{}
		for _, t := range params["traces"].([]string) {
			traces[t] = true
		}
		var out [][]any
		for _, r := range e.stateAll {
			if r["project_id"] != params["project"] || !traces[r["trace_id"].(string)] {
				continue
			}
			row := make([]any, 0, len(stateCols)+1)
			for _, c := range stateCols {
				row = append(row, r[c])
			}
			out = append(out, append(row, r["sign"]))
		}
		for i := range out {
			j := int(e.shuffle.Uint64N(uint64(i + 1)))
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	return nil
}
