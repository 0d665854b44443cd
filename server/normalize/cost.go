package normalize

import (
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/pricing"
)

// finishCost settles the cache-write split and the cost, after the token
// rules. The 5-minute and 1-hour writes are made to add up to the writes:
// the 1-hour figure is capped at them and the rest are 5-minute writes
// (Claude Code's rule; a producer's breakdown can disagree with its total),
// and writes reported only as a breakdown get their total. A reported cost
// of 0 on a call that used tokens is no cost at all (OpenLIT writes 0 when
// it has no price for the model); such a call, and one that reported none,
// is priced from the table by its model (response, else request) at its
// start.
func finishCost(c *spanCtx, prices *pricing.Table) {
	s := c.out
	if s.CacheCreation5mInputTokens != nil || s.CacheCreation1hInputTokens != nil {
		var m, h int64
		if s.CacheCreation5mInputTokens != nil {
			m = *s.CacheCreation5mInputTokens
		}
		if s.CacheCreation1hInputTokens != nil {
			h = *s.CacheCreation1hInputTokens
		}
		if s.CacheCreationInputTokens == nil {
			total := m + h
			s.CacheCreationInputTokens = &total
			if s.InputTokens != nil && c.inputsDisjoint {
				in := *s.InputTokens + total
				s.InputTokens = &in
			}
		}
		h = min(h, *s.CacheCreationInputTokens)
		m = *s.CacheCreationInputTokens - h
		s.CacheCreation5mInputTokens, s.CacheCreation1hInputTokens = &m, &h
	}
	if s.CostUSD != nil && *s.CostUSD == 0 && tokensUsed(s) {
		s.CostUSD, s.CostSource = nil, ""
	}
	if s.CostUSD != nil || prices == nil || !s.HasTokens() {
		return
	}
	u := pricing.Usage{Model: s.ResponseModel, At: s.StartedAt}
	if u.Model == "" {
		u.Model = s.RequestModel
	}
	val := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	u.Input, u.Output = val(s.InputTokens), val(s.OutputTokens)
	u.CacheRead, u.CacheWrite, u.CacheWrite1h = val(s.CacheReadInputTokens), val(s.CacheCreationInputTokens), val(s.CacheCreation1hInputTokens)
	if v, ok := c.a.peek(semconv.KeyWebSearchRequests); ok {
		if n, ok := valueInt(v); ok && n > 0 {
			u.WebSearches = n
		}
	}
	if n, ok := prices.Cost(u); ok {
		s.CostUSD, s.CostSource = model.CostPtr(n), model.CostPriceTable
	}
}

func tokensUsed(s *model.Span) bool {
	for _, p := range []*int64{s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens} {
		if p != nil && *p > 0 {
			return true
		}
	}
	return false
}
