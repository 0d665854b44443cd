package normalize

import (
	"testing"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/pricing"
)

func TestCost(t *testing.T) {
	prices := pricing.Default()
	i := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name       string
		attrs      map[string]any
		prices     *pricing.Table
		wantCost   *float64
		wantSource string
		want5m     *int64
		want1h     *int64
	}{
		{
			name: "weave-agentd call with 1-hour writes priced from the table",
			attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.response.model": "claude-opus-4-8",
				"gen_ai.usage.input_tokens": 19893, "gen_ai.usage.output_tokens": 11, "gen_ai.usage.cache_creation.input_tokens": 19889,
				"weave.usage.cache_creation.ephemeral_5m.input_tokens": 0, "weave.usage.cache_creation.ephemeral_1h.input_tokens": 19889},
			prices: prices, wantCost: model.CostPtr(199_185_000), wantSource: model.CostPriceTable, want5m: i(0), want1h: i(19889),
		},
		{
			name: "a breakdown larger than the writes is capped",
			attrs: map[string]any{"gen_ai.response.model": "claude-sonnet-4-5",
				"gen_ai.usage.input_tokens": 187006, "gen_ai.usage.output_tokens": 16, "gen_ai.usage.cache_read.input_tokens": 185000,
				"gen_ai.usage.cache_creation.input_tokens": 2000, "weave.usage.cache_creation.ephemeral_1h.input_tokens": 22829},
			prices: prices, wantCost: model.CostPtr(67_758_000), wantSource: model.CostPriceTable, want5m: i(0), want1h: i(2000),
		},
		{
			name: "a breakdown alone gives the writes",
			attrs: map[string]any{"gen_ai.request.model": "claude-haiku-4-5", "gen_ai.usage.input_tokens": 300,
				"weave.usage.cache_creation.ephemeral_5m.input_tokens": 100, "weave.usage.cache_creation.ephemeral_1h.input_tokens": 100},
			prices: prices, wantCost: model.CostPtr(100*1000 + 100*1250 + 100*2000), wantSource: model.CostPriceTable, want5m: i(100), want1h: i(100),
		},
		{
			name:   "web searches are billed",
			attrs:  map[string]any{"gen_ai.response.model": "claude-opus-4-8", "gen_ai.usage.input_tokens": 0, "weave.usage.web_search.requests": 2},
			prices: prices, wantCost: model.CostPtr(20_000_000), wantSource: model.CostPriceTable,
		},
		{
			name:   "OpenLIT's cost wins",
			attrs:  map[string]any{"gen_ai.response.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.cost": 0.5},
			prices: prices, wantCost: model.CostPtr(500_000_000), wantSource: model.CostReported,
		},
		{
			name:   "OpenLIT's zero for a model it cannot price is no cost",
			attrs:  map[string]any{"gen_ai.response.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.cost": 0},
			prices: prices, wantCost: model.CostPtr(15_000), wantSource: model.CostPriceTable,
		},
		{
			name:   "a zero cost without tokens stays",
			attrs:  map[string]any{"gen_ai.usage.cost": 0},
			prices: prices, wantCost: model.CostPtr(0), wantSource: model.CostReported,
		},
		{
			name:   "Langfuse cost details: the total",
			attrs:  map[string]any{"langfuse.observation.type": "generation", "langfuse.observation.cost_details": `{"input":0.001,"output":0.002,"total":0.003}`},
			prices: prices, wantCost: model.CostPtr(3_000_000), wantSource: model.CostReported,
		},
		{
			name:   "Langfuse cost details without a total: the sum",
			attrs:  map[string]any{"langfuse.observation.type": "generation", "langfuse.observation.cost_details": `{"input":0.001,"output":0.002}`},
			prices: prices, wantCost: model.CostPtr(3_000_000), wantSource: model.CostReported,
		},
		{
			name:   "Claude Code's cost_usd",
			attrs:  map[string]any{"cost_usd": "0.25", "input_tokens": 10},
			prices: prices, wantCost: model.CostPtr(250_000_000), wantSource: model.CostReported,
		},
		{
			name:   "OpenInference's llm.cost.total",
			attrs:  map[string]any{"openinference.span.kind": "LLM", "llm.cost.total": 0.01, "llm.token_count.prompt": 10},
			prices: prices, wantCost: model.CostPtr(10_000_000), wantSource: model.CostReported,
		},
		{
			name:   "unknown model: no cost",
			attrs:  map[string]any{"gen_ai.response.model": "acme-1", "gen_ai.usage.input_tokens": 10},
			prices: prices,
		},
		{
			name:  "no table: no cost",
			attrs: map[string]any{"gen_ai.response.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 10},
		},
		{
			name:   "no tokens: nothing to price",
			attrs:  map[string]any{"gen_ai.response.model": "gpt-4o-mini"},
			prices: prices,
		},
		{
			name:   "a negative cost is refused",
			attrs:  map[string]any{"gen_ai.response.model": "acme-1", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.cost": -1},
			prices: prices,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := normalizeOne(t, oneSpan(t, "chat", nil, tc.attrs), Options{Prices: tc.prices})
			if jsonOf(t, s.CostUSD) != jsonOf(t, tc.wantCost) || s.CostSource != tc.wantSource {
				t.Errorf("cost = %s (%q), want %s (%q)", jsonOf(t, s.CostUSD), s.CostSource, jsonOf(t, tc.wantCost), tc.wantSource)
			}
			if jsonOf(t, s.CacheCreation5mInputTokens) != jsonOf(t, tc.want5m) || jsonOf(t, s.CacheCreation1hInputTokens) != jsonOf(t, tc.want1h) {
				t.Errorf("5m/1h writes = %s/%s, want %s/%s", jsonOf(t, s.CacheCreation5mInputTokens), jsonOf(t, s.CacheCreation1hInputTokens),
					jsonOf(t, tc.want5m), jsonOf(t, tc.want1h))
			}
		})
	}
}
