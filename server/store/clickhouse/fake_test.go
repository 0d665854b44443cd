package clickhouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// fakeConn is a driver.Conn that records every statement the store sends
// (with its parameters, or the rows of a batch) and answers queries from a
// responder. It lets the SQL snapshot tests run without a server.
type fakeConn struct {
	driver.Conn // not implemented: calls panic

	mu      sync.Mutex
	calls   []call
	respond func(sql string, params map[string]any) [][]any
	closed  bool
}

type call struct {
	kind   string // exec, query, insert
	sql    string
	params []driver.NamedValue
	rows   [][]any
}

func (f *fakeConn) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// take returns the recorded calls and forgets them. The writer inserts
// into several tables at once (insertPlan): within each run of
// consecutive inserts, calls are put in one fixed table order (span_state
// last, as the writer guarantees) so that snapshots do not depend on
// which goroutine sent first.
func (f *fakeConn) take() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j].kind == "insert" {
			j++
		}
		sort.SliceStable(out[i:j], func(a, b int) bool { return insertRank(out[i+a].sql) < insertRank(out[i+b].sql) })
		i = max(j, i+1)
	}
	return out
}

func insertRank(sql string) int {
	for i, t := range []string{"spans", "message_content", "message_occurrences", "conv_traces", "span_state"} {
		if strings.Contains(sql, "`"+t+"`") || strings.Contains(sql, "`"+t+"_local`") {
			return i
		}
	}
	return 2
}

func namedArgs(args []any) ([]driver.NamedValue, error) {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv, ok := a.(driver.NamedValue)
		if !ok {
			return nil, fmt.Errorf("fake: argument %d is %T, want a named parameter", i, a)
		}
		out[i] = nv
	}
	return out, nil
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*):[^{}]+\}`)

// checkParams verifies that the query's placeholders and the parameters
// match one to one, as the server would.
func checkParams(sql string, params []driver.NamedValue) error {
	used := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(sql, -1) {
		used[m[1]] = true
	}
	bound := map[string]bool{}
	for _, p := range params {
		if !used[p.Name] {
			return fmt.Errorf("fake: parameter %s is bound but not used in %q", p.Name, sql)
		}
		bound[p.Name] = true
	}
	for name := range used {
		if !bound[name] {
			return fmt.Errorf("fake: placeholder %s has no parameter in %q", name, sql)
		}
	}
	return nil
}

func (f *fakeConn) Exec(ctx context.Context, sql string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	params, err := namedArgs(args)
	if err != nil {
		return err
	}
	f.record(call{kind: "exec", sql: sql, params: params})
	return nil
}

func (f *fakeConn) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	params, err := namedArgs(args)
	if err != nil {
		return nil, err
	}
	if err := checkParams(sql, params); err != nil {
		return nil, err
	}
	f.record(call{kind: "query", sql: sql, params: params})
	var rows [][]any
	if f.respond != nil {
		m := map[string]any{}
		for _, p := range params {
			m[p.Name] = p.Value
		}
		rows = f.respond(sql, m)
	}
	return &fakeRows{rows: rows, i: -1}, nil
}

// QueryRow is Query's first row. Unless the responder answers them, the
// server's version is 24.8 and it has none of the features tune looks
// for (so that tests of other things see no tuning).
func (f *fakeConn) QueryRow(ctx context.Context, sql string, args ...any) driver.Row {
	rows, err := f.Query(ctx, sql, args...)
	if err != nil {
		return &fakeRow{err: err}
	}
	r := rows.(*fakeRows)
	if len(r.rows) == 0 {
		switch {
		case sql == "SELECT version()":
			r.rows = [][]any{{"24.8.1.1"}}
		case strings.Contains(sql, "system.functions"):
			r.rows = [][]any{{uint64(0), uint64(0), uint64(0)}}
		case strings.HasPrefix(sql, "SELECT count() FROM system."):
			r.rows = [][]any{{uint64(0)}}
		case strings.HasPrefix(sql, "SHOW CREATE TABLE "):
			r.rows = [][]any{{fakeTableDDL(strings.TrimPrefix(sql, "SHOW CREATE TABLE "), true)}}
		case strings.HasPrefix(sql, "EXISTS TABLE "):
			r.rows = [][]any{{uint8(0)}}
		}
	}
	if !r.Next() {
		return &fakeRow{err: errors.New("fake: no rows")}
	}
	return &fakeRow{rows: r}
}

// fakeTableDDL is what SHOW CREATE TABLE says of a table (`db`.`name`):
// with the granule sizes tune wants when rebuilt, with ClickHouse's
// defaults otherwise.
func fakeTableDDL(quoted string, rebuilt bool) string {
	name := strings.Trim(quoted[strings.LastIndexByte(quoted, '.')+1:], "`")
	db := strings.Trim(quoted[:strings.LastIndexByte(quoted, '.')], "`")
	settings := "index_granularity = 8192"
	if rebuilt {
		for _, g := range granules {
			if name == g.table || name == g.table+"_local" {
				settings, _ = strings.CutPrefix(mustSettings(withSettings("SETTINGS index_granularity = 8192", g.settings)), "SETTINGS ")
			}
		}
	}
	return "CREATE TABLE " + db + "." + name + "\n(\n    `x` UInt8\n)\nENGINE = MergeTree\nORDER BY x\nSETTINGS " + settings
}

func mustSettings(ddl string, ok bool) string {
	if !ok {
		panic("fake: no SETTINGS in " + ddl)
	}
	return ddl
}

type fakeRow struct {
	driver.Row
	rows *fakeRows
	err  error
}

func (r *fakeRow) Err() error { return r.err }

func (r *fakeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Scan(dest...)
}

func (f *fakeConn) PrepareBatch(ctx context.Context, sql string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &fakeBatch{conn: f, sql: sql}, nil
}

func (f *fakeConn) Ping(context.Context) error { return nil }

func (f *fakeConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

type fakeBatch struct {
	driver.Batch
	conn *fakeConn
	sql  string
	rows [][]any
	sent bool
}

func (b *fakeBatch) Append(v ...any) error {
	b.rows = append(b.rows, append([]any(nil), v...))
	return nil
}

func (b *fakeBatch) Send() error {
	b.sent = true
	b.conn.record(call{kind: "insert", sql: b.sql, rows: b.rows})
	return nil
}

func (b *fakeBatch) Close() error                { return nil }
func (b *fakeBatch) Abort() error                { return nil }
func (b *fakeBatch) IsSent() bool                { return b.sent }
func (b *fakeBatch) Rows() int                   { return len(b.rows) }
func (b *fakeBatch) Columns() []column.Interface { return nil }

// fakeRows serves canned rows; Scan assigns each value to its destination
// (a nil value leaves a pointer-to-pointer destination nil).
type fakeRows struct {
	driver.Rows
	rows [][]any
	i    int
}

func (r *fakeRows) Next() bool {
	r.i++
	return r.i < len(r.rows)
}

func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.i]
	if len(row) != len(dest) {
		return fmt.Errorf("fake: row has %d values, scan wants %d", len(row), len(dest))
	}
	for i, d := range dest {
		dv := reflect.ValueOf(d).Elem()
		if row[i] == nil {
			dv.Set(reflect.Zero(dv.Type()))
			continue
		}
		v := reflect.ValueOf(row[i])
		if !v.Type().AssignableTo(dv.Type()) {
			return fmt.Errorf("fake: column %d: cannot scan %T into %s", i, row[i], dv.Type())
		}
		dv.Set(v)
	}
	return nil
}

func (r *fakeRows) Err() error   { return nil }
func (r *fakeRows) Close() error { return nil }

// render writes calls in the snapshot format: one block per statement,
// the SQL, then its parameters or rows.
func render(calls []call) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "-- %s\n%s\n", c.kind, c.sql)
		for _, p := range c.params {
			fmt.Fprintf(&b, "   %s = %s\n", p.Name, fmtValue(p.Value))
		}
		for _, r := range c.rows {
			vals := make([]string, len(r))
			for i, v := range r {
				vals[i] = fmtValue(v)
			}
			fmt.Fprintf(&b, "   (%s)\n", strings.Join(vals, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		if len(x) > 120 {
			return fmt.Sprintf("%q…(%d bytes)", x[:120], len(x))
		}
		return fmt.Sprintf("%q", x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if x == nil {
			return "NULL"
		}
		return x.UTC().Format(time.RFC3339Nano)
	case *int64:
		if x == nil {
			return "NULL"
		}
		return fmt.Sprint(*x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmtValue(k.Interface()) + ":" + fmtValue(rv.MapIndex(k).Interface())
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Slice:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = fmtValue(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}
