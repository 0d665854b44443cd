package clickhouse

import (
	"context"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// matchingDigestsSQL selects the digests of the project's bodies that
// contain every term of q: every word as a token of the space-separated
// terms column (hasAllTokens, which the text index answers without
// reading the column, or else hasToken per word, which the token bloom
// filter narrows), and each term of several words as a run of
// consecutive words. project is the placeholder of the project parameter.
func matchingDigestsSQL(l layout, project string, q textsearch.Query, p *params) string {
	conds := []string{"project_id = " + project}
	if l.textIndex {
		var all []string
		for _, t := range q.Terms {
			all = append(all, t.Tokens...)
		}
		conds = append(conds, "hasAllTokens(terms, "+p.add("Array(String)", all)+")")
	}
	for _, t := range q.Terms {
		if !l.textIndex {
			for _, tok := range t.Tokens {
				conds = append(conds, "hasToken(terms, "+p.add("String", tok)+")")
			}
		}
		if !l.textIndex || len(t.Tokens) > 1 {
			conds = append(conds, "position(terms, "+p.add("String", " "+strings.Join(t.Tokens, " ")+" ")+") > 0")
		}
	}
	return "SELECT digest FROM " + l.table("message_content") + " WHERE " + and(conds)
}

// searchSQL finds the hits of q: occurrences of matching bodies, grouped
// by (conversation, role, body) with the first occurrence of each (the
// earliest start, then trace_id, span_id), then filtered by agent and
// time on that first occurrence, newest first.
func searchSQL(l layout, q store.SearchQuery, parsed textsearch.Query, limit int) built {
	var p params
	project := p.add("String", q.ProjectID)
	conds := []string{"project_id = " + project, "digest IN (" + matchingDigestsSQL(l, project, parsed, &p) + ")"}
	if len(q.Roles) > 0 {
		conds = append(conds, "role IN "+p.add("Array(String)", q.Roles))
	}
	if q.ConversationID != "" {
		conds = append(conds, "conv_key = "+p.add("String", q.ConversationID))
	}
	var having []string
	if q.AgentName != "" {
		having = append(having, "h_agent = "+p.add("String", q.AgentName))
	}
	if !q.Range.From.IsZero() {
		having = append(having, "h_at >= "+p.add("Int64", store.ClampNanos(q.Range.From)))
	}
	if !q.Range.To.IsZero() {
		having = append(having, "h_at < "+p.add("Int64", store.ClampNanos(q.Range.To)))
	}
	first := "(started_at, trace_id, span_id)"
	sql := "SELECT conv_key, role, digest, toUnixTimestamp64Nano(min(started_at)) AS h_at, " +
		"argMin(trace_id, " + first + ") AS h_trace, argMin(span_id, " + first + ") AS h_span, " +
		"argMin(eff_agent, " + first + ") AS h_agent, argMin(operation_name, " + first + ") AS h_op FROM " +
		l.table("message_occurrences") + " FINAL WHERE " + and(conds) + " GROUP BY conv_key, role, digest"
	if len(having) > 0 {
		sql += " HAVING " + and(having)
	}
	sql += " ORDER BY h_at DESC, h_trace ASC, h_span ASC, role ASC, digest ASC LIMIT " + p.add("UInt64", uint64(limit)) +
		" OFFSET " + p.add("UInt64", uint64(q.Offset))
	return built{sql: sql, params: p.list}
}

// bodiesSQL reads the bodies of the page's hits.
func bodiesSQL(l layout, project string, digests []string) built {
	var p params
	return built{
		sql: "SELECT digest, any(content) FROM " + l.table("message_content") + " WHERE project_id = " +
			p.add("String", project) + " AND digest IN " + p.add("Array(String)", digests) + " GROUP BY digest",
		params: p.list,
	}
}

// SearchMessages implements store.Reader.
func (s *Store) SearchMessages(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if err := needProject(q.ProjectID); err != nil {
		return nil, err
	}
	limit, err := clampLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if err := checkOffset(q.Offset); err != nil {
		return nil, err
	}
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	parsed, err := textsearch.Parse(q.Query)
	if err != nil {
		return nil, err
	}
	b := searchSQL(s.l, q, parsed, limit)
	var hits []store.SearchHit
	var digests []string
	err = s.scanAll(ctx, "search messages", b.sql, b.params, func(r driver.Rows) error {
		var h store.SearchHit
		var digest string
		var at int64
		if err := r.Scan(&h.ConversationID, &h.Role, &digest, &at, &h.TraceID, &h.SpanID, &h.AgentName, &h.OperationName); err != nil {
			return err
		}
		h.StartedAt = fromNanos(at)
		hits = append(hits, h)
		digests = append(digests, digest)
		return nil
	})
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	set := map[string]bool{}
	for _, d := range digests {
		set[d] = true
	}
	bodies := map[string]string{}
	bb := bodiesSQL(s.l, q.ProjectID, sortedKeys(set))
	err = s.scanAll(ctx, "search messages", bb.sql, bb.params, func(r driver.Rows) error {
		var d, body string
		if err := r.Scan(&d, &body); err != nil {
			return err
		}
		bodies[d] = body
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range hits {
		hits[i].Snippet = textsearch.Snippet(bodies[digests[i]], parsed)
	}
	// The last activity of the hits' conversations.
	convs := map[string]bool{}
	for _, h := range hits {
		convs[h.ConversationID] = true
	}
	last := map[string]int64{}
	lb := conversationLastSQL(s.l, q.ProjectID, sortedKeys(convs))
	err = s.scanAll(ctx, "search messages", lb.sql, lb.params, func(r driver.Rows) error {
		var key string
		var ns int64
		if err := r.Scan(&key, &ns); err != nil {
			return err
		}
		last[key] = ns
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range hits {
		hits[i].LastActivity = fromNanos(last[hits[i].ConversationID])
	}
	return hits, nil
}

// conversationLastSQL reads the last activity of conversations.
func conversationLastSQL(l layout, project string, convs []string) built {
	var p params
	return built{
		sql: "SELECT conv_key, max(last_ns) FROM " + l.table("conv_traces") + " FINAL WHERE project_id = " + p.add("String", project) +
			" AND conv_key IN " + p.add("Array(String)", convs) + " GROUP BY conv_key",
		params: p.list,
	}
}
