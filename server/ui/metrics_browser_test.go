package ui_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// postMetrics sends Claude Code-like metrics (delta sums, as Claude Code
// exports them) and one gauge of another producer.
func (ws *weaveServer) postMetrics(t *testing.T, at time.Time) {
	t.Helper()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "claude-code")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	sum := func(name, unit string, points ...[]any) {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		for i, p := range points {
			dp := s.DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Minute)))
			dp.SetDoubleValue(p[0].(float64))
			for k := 1; k+1 < len(p); k += 2 {
				dp.Attributes().PutStr(p[k].(string), p[k+1].(string))
			}
		}
	}
	sum("claude_code.cost.usage", "USD",
		[]any{1.25, "model", "claude-opus-4-8", "user.email", "a@example.com"},
		[]any{0.5, "model", "claude-haiku-4-5", "user.email", "b@example.com"})
	sum("claude_code.token.usage", "tokens",
		[]any{1200.0, "type", "input", "model", "claude-opus-4-8"},
		[]any{300.0, "type", "output", "model", "claude-opus-4-8"})
	g := ms.AppendEmpty()
	g.SetName("queue.depth")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	gp.SetIntValue(4)
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ws.URL+"/v1/metrics", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/metrics: %d %s", resp.StatusCode, msg)
	}
}

// TestMetricsPage: the Metrics page shows Claude Code's metrics first with
// their totals, one chart per metric split as asked, and says how to get
// metrics when there are none.
func TestMetricsPage(t *testing.T) {
	b := needBrowser(t)
	ws := startServer(t, "")
	p := &page{tab: b.newTab(t), ws: ws}
	p.open(t, "#/metrics")
	p.waitFor(t, "the empty state", `!!document.querySelector('#main .empty')`)
	if !p.has(t, "#main .empty", "CLAUDE_CODE_ENABLE_TELEMETRY=1") {
		t.Errorf("the empty page does not say how to send metrics:\n%s", p.describe())
	}

	ws.postMetrics(t, time.Now().Add(-10*time.Minute))
	p.goTo(t, "#/metrics?range=24h")
	p.waitFor(t, "the charts", `document.querySelectorAll('#metrics-charts .chart-box figure').length === 3 && !!document.querySelector('#metrics-totals .stat')`)
	order := eval[[]string](t, p.tab, `[...document.querySelectorAll('#metrics-charts .chart-box')].map((b) => b.dataset.metric)`)
	if want := []string{"claude_code.cost.usage", "claude_code.token.usage", "queue.depth"}; !equal(order, want) {
		t.Errorf("charts %v, want %v", order, want)
	}
	if got := eval[string](t, p.tab, `document.querySelector('#metrics-totals .stat[data-metric="claude_code.cost.usage"]').textContent`); got != "Cost$1.75" {
		t.Errorf("cost tile %q, want $1.75", got)
	}
	legend := eval[[]string](t, p.tab, `[...document.querySelectorAll('[data-metric="claude_code.cost.usage"] .legend li')].map((li) => li.innerText.trim())`)
	if !equal(legend, []string{"claude-opus-4-8", "claude-haiku-4-5"}) {
		t.Errorf("cost split by model: legend %v", legend)
	}
	p.screenshot(t, "metrics")
	p.goTo(t, "#/metrics?split=user.email")
	p.waitFor(t, "the split by user", `[...document.querySelectorAll('[data-metric="claude_code.cost.usage"] .legend li')].map((li) => li.innerText.trim()).join(',') === 'a@example.com,b@example.com'`)
	p.checkConsole(t)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
