package clickhouse

import (
	"cmp"
	"context"
	"slices"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"
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
	return "SELECT digest FROM " + l.table("message_content") + " WHERE " + and(matchConds(l, project, q, p, false))
}

// matchConds are the conditions on message_content of a query's matches.
// indexOnly leaves out what the text indexes cannot answer (the runs of
// several words checked with position, which reads the terms column):
// with the text index it is a count from the indexes alone, and a bound
// on the matches. With the index of word pairs a phrase of two words is
// one pair token (exact, from the index); a longer one needs each of its
// pairs and then its words in order.
func matchConds(l layout, project string, q textsearch.Query, p *params, indexOnly bool) []string {
	conds := []string{"project_id = " + project}
	if l.textIndex {
		var all, pairs []string
		for _, t := range q.Terms {
			all = append(all, t.Tokens...)
			if l.pairIndex {
				for i := 1; i < len(t.Tokens); i++ {
					pairs = append(pairs, t.Tokens[i-1]+"_"+t.Tokens[i])
				}
			}
		}
		conds = append(conds, "hasAllTokens(terms, "+p.add("Array(String)", all)+")")
		if len(pairs) > 0 {
			conds = append(conds, "hasAllTokens("+pairsExpr+", "+p.add("Array(String)", pairs)+")")
		}
	} else {
		for _, t := range q.Terms {
			for _, tok := range t.Tokens {
				conds = append(conds, "hasToken(terms, "+p.add("String", tok)+")")
			}
		}
	}
	if !indexOnly {
		conds = append(conds, runConds(l, q, p)...)
	}
	return conds
}

// runConds check, on the terms column, the runs of several words of q
// that the indexes do not answer exactly.
func runConds(l layout, q textsearch.Query, p *params) []string {
	var conds []string
	for _, t := range q.Terms {
		if !exactTerm(l, t) {
			conds = append(conds, "position(terms, "+p.add("String", " "+strings.Join(t.Tokens, " ")+" ")+") > 0")
		}
	}
	return conds
}

// exactTerm reports whether the indexes alone tell the bodies that hold t:
// a word with the text index, a phrase of two words with the index of
// word pairs too.
func exactTerm(l layout, t textsearch.Term) bool {
	return l.textIndex && (len(t.Tokens) == 1 || l.pairIndex && len(t.Tokens) == 2)
}

// phraseSample is how many of the bodies that have a query's words
// phraseSampleSQL checks for its runs of words.
const phraseSample = 256

// phraseSampleSQL checks the runs of words of q (runConds) on the first
// phraseSample bodies that have all its words, in the table's order: by
// digest, a hash of the text, so in no order of time or content. Reading
// stops once the sample is full: at most phraseSample granules of terms.
func phraseSampleSQL(l layout, project string, parsed textsearch.Query) built {
	var p params
	pr := p.add("String", project)
	index := matchConds(l, pr, parsed, &p, true)
	return built{
		sql: "SELECT toInt64(count()), toInt64(countIf(" + and(runConds(l, parsed, &p)) + ")) FROM (SELECT terms FROM " +
			l.table("message_content") + " WHERE " + and(index) + " LIMIT " + p.add("UInt64", uint64(phraseSample)) + ")",
		params: p.list,
	}
}

// searchSQL finds the hits of q: occurrences of matching bodies, grouped
// by (conversation, role, body) with the first occurrence of each (the
// earliest start, then trace_id, span_id), then filtered by agent and
// time on that first occurrence, newest first. With groups, only the
// occurrences of those groups are grouped (a prefix of the sort key: the
// rows of each group are read, not every occurrence of its body, which
// for a body every conversation repeats is one row per turn of the
// project), every group is returned and the caller sorts and pages them
// (searchRecent); without, the bodies are those matching the query and
// the page is cut here. Every condition is on the sort key's columns, a
// PREWHERE (keyPrewhere): the groups' other columns are read only from
// the granules that hold them (the 194 groups of "retry timeout"'s 256
// newest rows at 1M spans: 31 → 15 MB, about half the CPU).
func searchSQL(l layout, q store.SearchQuery, parsed textsearch.Query, groups []occKey, limit int) built {
	var p params
	project := p.add("String", q.ProjectID)
	conds := []string{"project_id = " + project}
	if groups != nil {
		set := make(ch.ArraySet, len(groups))
		for i, g := range groups {
			set[i] = ch.GroupSet{Value: []any{g.digest, g.conv, g.role}}
		}
		conds = append(conds, "(digest, conv_key, role) IN "+p.add("Array(Tuple(String, String, String))", set))
	} else {
		conds = append(conds, "digest IN ("+matchingDigestsSQL(l, project, parsed, &p)+")")
	}
	conds = append(conds, groupConds(q, &p)...)
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
		l.table("message_occurrences") + " FINAL" + keyPrewhere(conds, nil) + " GROUP BY conv_key, role, digest"
	if len(having) > 0 {
		sql += " HAVING " + and(having)
	}
	if groups == nil {
		sql += " ORDER BY h_at DESC, h_trace ASC, h_span ASC, role ASC, digest ASC LIMIT " + p.add("UInt64", uint64(limit)) +
			" OFFSET " + p.add("UInt64", uint64(q.Offset))
	}
	return built{sql: sql, params: p.list}
}

// groupConds narrow occurrences by the group columns a search names.
func groupConds(q store.SearchQuery, p *params) []string {
	var conds []string
	if len(q.Roles) > 0 {
		conds = append(conds, "role IN "+p.add("Array(String)", q.Roles))
	}
	if q.ConversationID != "" {
		conds = append(conds, "conv_key = "+p.add("String", q.ConversationID))
	}
	return conds
}

// estimateSQL bounds the bodies that match the query (every word in
// them, runs of words not checked) and counts the project's bodies. The
// words are a WHERE condition, not a countIf: there the text index (or the
// token bloom filter) skips the granules without them, so a rare word
// reads almost nothing (as a countIf, every search read the terms of
// every body: 0.7 s at 100,000 spans).
func estimateSQL(l layout, project string, parsed textsearch.Query) built {
	var p params
	pr := p.add("String", project)
	from := " FROM " + l.table("message_content") + " WHERE "
	return built{
		sql: "SELECT (SELECT toInt64(count())" + from + and(matchConds(l, pr, parsed, &p, true)) + "), " +
			"(SELECT toInt64(count())" + from + "project_id = " + pr + ")",
		params: p.list,
	}
}

// candidatesSQL keeps, of some bodies, those that match the query. The
// digests are a PREWHERE: the primary key selects, in every part, the
// granule whose key range holds each digest, present or not, and the
// terms (a phrase's position) are then read only for the granules that
// hold one (a phrase checked on 300 recent bodies read 157 MB of terms at
// 1M spans without it, 17 MB of digests with it).
func candidatesSQL(l layout, project string, parsed textsearch.Query, digests []string) built {
	var p params
	pr := p.add("String", project)
	conds := matchConds(l, pr, parsed, &p, false)[1:] // project_id is in PREWHERE
	return built{
		sql: "SELECT DISTINCT digest FROM " + l.table("message_content") + " PREWHERE project_id = " + pr + " AND digest IN " +
			p.add("Array(String)", digests) + " WHERE " + and(conds),
		params: p.list,
	}
}

// recentSQL reads the newest n occurrence rows (within the search's range,
// roles and conversation) from the table sorted by start: ClickHouse reads
// it backwards and stops after n rows. With matching, only the rows of
// bodies that match the query count (the set of them is built first);
// without, every row does, and the caller keeps the matches.
func recentSQL(l layout, q store.SearchQuery, parsed textsearch.Query, matching bool, n int) built {
	var p params
	project := p.add("String", q.ProjectID)
	conds := []string{"project_id = " + project}
	if matching {
		conds = append(conds, "digest IN ("+matchingDigestsSQL(l, project, parsed, &p)+")")
	}
	conds = append(conds, groupConds(q, &p)...)
	conds = append(conds, rangeConds("started_at", q.Range, &p)...)
	return built{
		sql: "SELECT conv_key, role, digest, toUnixTimestamp64Nano(started_at) FROM " + l.table("message_occurrences_by_time") +
			" WHERE " + and(conds) + " ORDER BY started_at DESC LIMIT " + p.add("UInt64", uint64(n)),
		params: p.list,
	}
}

// searchPlan chooses between the search plans (searchHits).
type searchPlan struct {
	// directMax: a query matching at most this many bodies groups all
	// their occurrences at once.
	directMax int
	// commonPercent: a query matching at least this percentage of the
	// bodies reads the newest occurrence rows whatever they say and keeps
	// those that match; one matching fewer builds the set of matching
	// bodies first and reads the newest rows of those (but a phrase the
	// indexes do not answer always reads every row: its set would check
	// every body that has its words).
	commonPercent int
	// recentRows, perHit, recentMax: a newest-first plan reads at first
	// max(recentRows, perHit × the hits wanted) rows (divided by the share
	// of bodies that match when it reads every row), four times more each
	// round, up to recentMax rows before it groups everything.
	recentRows, perHit, recentMax int
}

// Each group a round reads costs a granule in every part of
// message_occurrences, so the first round is sized by the hits wanted
// (recentRows was 256: "retry timeout" at 1M spans then read 256 rows of
// 194 groups, 193 of them hits, for a page of 20).
var defaultSearchPlan = searchPlan{directMax: searchDirectMax, commonPercent: 1, recentRows: 32, perHit: 4, recentMax: 200_000}

// searchDirectMax is the default plan's threshold.
const searchDirectMax = 2000

// hit is one search group with its sort key.
type hit struct {
	h      store.SearchHit
	digest string
	at     int64
}

// searchHits finds the page of hits of q. How many bodies match (from the
// text index; for a phrase the indexes do not answer, the bodies that have
// its words times the share of a sample of them that have it) chooses the
// plan: few, group the occurrences of all of them; many, read the newest
// occurrences first (searchRecent).
func (s *Store) searchHits(ctx context.Context, q store.SearchQuery, parsed textsearch.Query, limit int) ([]hit, error) {
	var words, bodies int64
	e := estimateSQL(s.l, q.ProjectID, parsed)
	if err := s.scanAll(ctx, "search messages", e.sql, e.params, func(r driver.Rows) error { return r.Scan(&words, &bodies) }); err != nil {
		return nil, err
	}
	if words == 0 {
		return nil, nil
	}
	matches, common := float64(words), words*100 >= bodies*int64(s.search.commonPercent)
	if words > int64(s.search.directMax) && slices.ContainsFunc(parsed.Terms, func(t textsearch.Term) bool { return len(t.Tokens) > 1 && !exactTerm(s.l, t) }) {
		// A phrase the indexes do not answer: the count is of the bodies
		// that have its words. The share of them that have the phrase,
		// from a sample, sizes the plan; the newest rows are read whatever
		// they say and their bodies checked (the set of matching bodies
		// would check the terms of every body that has the words).
		var sampled, found int64
		b := phraseSampleSQL(s.l, q.ProjectID, parsed)
		if err := s.scanAll(ctx, "search messages", b.sql, b.params, func(r driver.Rows) error { return r.Scan(&sampled, &found) }); err != nil {
			return nil, err
		}
		matches, common = matches*float64(found)/float64(max(sampled, 1)), true
	}
	if matches > float64(s.search.directMax) {
		share := matches / float64(max(bodies, 1))
		if hits, ok, err := s.searchRecent(ctx, q, parsed, q.Offset+limit, common, share); err != nil || ok {
			if err != nil || q.Offset >= len(hits) {
				return nil, err
			}
			return hits[q.Offset:min(len(hits), q.Offset+limit)], nil
		}
	}
	return s.groupHits(ctx, searchSQL(s.l, q, parsed, nil, limit))
}

// searchRecent finds the first need hits without grouping every match.
// It reads the newest matching occurrence rows down to a start t (the
// oldest of the rows read), groups the occurrences of their bodies
// exactly, and keeps the groups whose first occurrence is after t: every
// row of such a group is after t, so it was read, so no group is missed.
// When fewer than need qualify, it reads further back. common reads every
// row and keeps those of matching bodies (a word in share of the bodies:
// the set of all matching bodies would be large); otherwise only the rows
// of matching bodies are read. ok is false when it gave up
// (searchPlan.recentMax rows read); the caller then groups everything.
func (s *Store) searchRecent(ctx context.Context, q store.SearchQuery, parsed textsearch.Query, need int, common bool, share float64) ([]hit, bool, error) {
	type row struct {
		g  occKey
		at int64
	}
	n := max(s.search.recentRows, s.search.perHit*need)
	if common && share > 0 {
		n = max(s.search.recentRows, int(float64(s.search.perHit*need)/share))
	}
	for ; n <= s.search.recentMax; n *= 4 {
		var rows []row
		b := recentSQL(s.l, q, parsed, !common, n)
		err := s.scanAll(ctx, "search messages", b.sql, b.params, func(r driver.Rows) error {
			var x row
			if err := r.Scan(&x.g.conv, &x.g.role, &x.g.digest, &x.at); err != nil {
				return err
			}
			rows = append(rows, x)
			return nil
		})
		if err != nil || len(rows) == 0 {
			return nil, err == nil, err
		}
		exhausted, oldest := len(rows) < n, rows[len(rows)-1].at
		digests := map[string]bool{}
		for _, x := range rows {
			digests[x.g.digest] = true
		}
		if common {
			matched, err := s.scanSet(ctx, "search messages", candidatesSQL(s.l, q.ProjectID, parsed, sortedKeys(digests)))
			if err != nil {
				return nil, false, err
			}
			digests = matched
		}
		seen := map[occKey]occurrence{}
		for _, x := range rows {
			if digests[x.g.digest] {
				seen[x.g] = occurrence{}
			}
		}
		var out []hit
		if len(seen) > 0 {
			groups, err := s.groupHits(ctx, searchSQL(s.l, q, parsed, sortedOccKeys(seen), 0))
			if err != nil {
				return nil, false, err
			}
			for _, h := range groups {
				if exhausted || h.at > oldest {
					out = append(out, h)
				}
			}
		}
		if exhausted || len(out) >= need {
			slices.SortFunc(out, func(a, b hit) int {
				return cmp.Or(cmp.Compare(b.at, a.at), strings.Compare(a.h.TraceID, b.h.TraceID), strings.Compare(a.h.SpanID, b.h.SpanID),
					strings.Compare(a.h.Role, b.h.Role), strings.Compare(a.digest, b.digest))
			})
			return out, true, nil
		}
	}
	return nil, false, nil
}

// groupHits runs a searchSQL query.
func (s *Store) groupHits(ctx context.Context, b built) ([]hit, error) {
	var out []hit
	err := s.scanAll(ctx, "search messages", b.sql, b.params, func(r driver.Rows) error {
		var h hit
		if err := r.Scan(&h.h.ConversationID, &h.h.Role, &h.digest, &h.at, &h.h.TraceID, &h.h.SpanID, &h.h.AgentName, &h.h.OperationName); err != nil {
			return err
		}
		h.h.StartedAt = fromNanos(h.at)
		out = append(out, h)
		return nil
	})
	return out, err
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
	defer s.reading(ctx)()
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, err
	}
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	parsed, err := textsearch.Parse(q.Query)
	if err != nil {
		return nil, err
	}
	found, err := s.searchHits(ctx, q, parsed, limit)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	hits := make([]store.SearchHit, len(found))
	digests := make([]string, len(found))
	for i, h := range found {
		hits[i], digests[i] = h.h, h.digest
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
		sql: "SELECT conv_key, max(last_ns) FROM " + l.table("conv_traces") + " FINAL PREWHERE project_id = " + p.add("String", project) +
			" AND conv_key IN " + p.add("Array(String)", convs) + " GROUP BY conv_key",
		params: p.list,
	}
}
