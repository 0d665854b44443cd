package clickhouse

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
)

// built is one query with its server-side parameters. Values never enter
// the SQL text: every value is a {name:Type} parameter.
type built struct {
	sql    string
	params []driver.NamedValue
}

// params numbers the parameters of one query.
type params struct {
	list []driver.NamedValue
}

// add binds v and returns its placeholder.
func (p *params) add(typ string, v any) string {
	name := fmt.Sprintf("p%d", len(p.list))
	p.list = append(p.list, named(name, v))
	return "{" + name + ":" + typ + "}"
}

// addTime binds t (clamped to the storable range) as nanoseconds and
// returns a DateTime64(9) expression of it.
func (p *params) addTime(t time.Time) string {
	return "fromUnixTimestamp64Nano(" + p.add("Int64", store.ClampNanos(t)) + ", 'UTC')"
}

// checks are the request checks (project, limit, offset) shared with the
// other backend; their errors say "clickhouse".
const checks = store.Checks("clickhouse")

func checkRange(r store.TimeRange) error {
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return invalid("time range from %s is not before to %s", r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
	}
	return nil
}

// rangeConds bounds col (a DateTime64 column) by r.
func rangeConds(col string, r store.TimeRange, p *params) []string {
	var out []string
	if !r.From.IsZero() {
		out = append(out, col+" >= "+p.addTime(r.From))
	}
	if !r.To.IsZero() {
		out = append(out, col+" < "+p.addTime(r.To))
	}
	return out
}

func direction(d string) (string, error) {
	switch strings.ToLower(d) {
	case "", "desc":
		return "DESC", nil
	case "asc":
		return "ASC", nil
	}
	return "", invalid("unknown sort direction %q (asc, desc)", d)
}

func and(conds []string) string {
	if len(conds) == 0 {
		return "1"
	}
	return strings.Join(conds, " AND ")
}
