package clickhouse

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// convAggs are the grouped columns of the conversations list, over
// conv_traces (one row per trace of the conversation). Aliases differ from
// column names so that no alias is substituted into another aggregate.
// Turns follow the store package doc's turn rule: the turn spans when the
// conversation has any (its traces without one are background), else one
// per trace.
const convAggs = "conv_key, if(sum(turn_spans) > 0, toInt64(sum(turn_spans)), toInt64(count())) AS c_turns, " +
	"if(sum(turn_spans) > 0, toInt64(countIf(turn_spans = 0)), toInt64(0)) AS c_background, toInt64(sum(span_count)) AS c_spans, " +
	"toInt64(sum(error_count)) AS c_errors, toInt64(sum(running_count)) AS c_running, " +
	"min(first_ns) AS c_first, max(last_ns) AS c_last, toInt64(sum(input_tokens)) AS c_input, " +
	"toInt64(sum(output_tokens)) AS c_output, toInt64(sum(cache_read_input_tokens)) AS c_cache_read, " +
	"toInt64(sum(cache_creation_input_tokens)) AS c_cache_creation, " +
	"toInt64(sum(reasoning_tokens)) AS c_reasoning, toInt64(sum(cost_nanos)) AS c_cost, toInt64(sum(unpriced)) AS c_unpriced"

// firstPromptAgg picks the prompt of the conversation's first span that
// has one: earliest start, invoke_agent spans first, then span_id.
const firstPromptAgg = "argMinIf(prompt, (prompt_ns, prompt_rank, prompt_span_id), prompt != '')"

// placeAgg picks a column of where the conversation last ran: that of its
// latest span that records a place (each trace's row holds its latest).
func placeAgg(col string) string {
	return "argMaxIf(" + col + ", (place_ns, place_span_id), place_span_id != '')"
}

// detailAggs are the grouped columns read for the page's conversations
// only (conversationDetailsSQL), unless the page is sorted on one of
// them, in scan order.
var detailAggs = []struct{ alias, agg string }{
	{"c_prompt", firstPromptAgg}, {"c_working_dir", placeAgg("working_dir")}, {"c_git_branch", placeAgg("git_branch")},
}

// conversationsSQL builds the page and count queries of QueryConversations:
// the page also gives the total (c_total).
// Only scalar figures are grouped over the whole project; agent names,
// models and detailAggs are read for the page's conversations only
// (conversationDetailsSQL), unless the page is sorted on one of those.
func conversationsSQL(l layout, q store.ConversationQuery, search *textsearch.Query, scored *scoredSet, limit int) (page, count built, err error) {
	if err := checkRange(q.Range); err != nil {
		return page, count, err
	}
	var order []string
	sorted := map[string]bool{}
	for _, so := range q.Sort {
		col, ok := store.ConversationSortFields[so.Field]
		if !ok {
			return page, count, invalid("cannot sort conversations on %q", so.Field)
		}
		dir, err := direction(so.Direction)
		if err != nil {
			return page, count, err
		}
		sorted[col] = true
		order = append(order, col+" "+dir)
	}
	if len(order) == 0 {
		order = []string{"c_last DESC"}
	}
	order = append(order, "conv_key ASC")

	var p params
	project := p.add("String", q.ProjectID)
	// Conditions on the sort key's columns are a PREWHERE (keyPrewhere).
	pre := []string{"project_id = " + project}
	var conds []string
	if q.AgentName != "" {
		conds = append(conds, "conv_key IN (SELECT conv_key FROM "+l.table("conv_traces")+" FINAL WHERE project_id = "+
			project+" AND has(agents, "+p.add("String", q.AgentName)+"))")
	}
	if len(q.Filters) > 0 {
		// The conversations of the matching spans: their state rows hold
		// each span's effective conversation.
		matching, err := matchingSpansSQL(l, "trace_id, span_id", project, q.Filters, &p)
		if err != nil {
			return page, count, err
		}
		conds = append(conds, "conv_key IN (SELECT conv_key FROM "+l.table("span_state")+" FINAL WHERE project_id = "+project+
			" AND (trace_id, span_id) IN ("+matching+"))")
	}
	if scored != nil {
		pre = append(pre, scored.cond("conv_key", &p))
	}
	if search != nil {
		conds = append(conds, "conv_key IN (SELECT conv_key FROM "+l.table("message_occurrences")+" FINAL WHERE project_id = "+
			project+" AND digest IN ("+matchingDigestsSQL(l, project, *search, &p)+"))")
	}
	var having []string
	if !q.Range.From.IsZero() {
		having = append(having, "c_last >= "+p.add("Int64", store.ClampNanos(q.Range.From)))
	}
	if !q.Range.To.IsZero() {
		having = append(having, "c_last < "+p.add("Int64", store.ClampNanos(q.Range.To)))
	}
	aggs := convAggs
	for _, d := range detailAggs {
		if sorted[d.alias] {
			aggs += ", " + d.agg + " AS " + d.alias
		}
	}
	grouped := "SELECT " + aggs + " FROM " + l.table("conv_traces") + " FINAL" + keyPrewhere(pre, conds) + " GROUP BY conv_key"
	if len(having) > 0 {
		grouped += " HAVING " + and(having)
	}
	count = built{sql: "SELECT toInt64(count()) FROM (" + grouped + ")", params: append([]driver.NamedValue(nil), p.list...)}
	lim := p.add("UInt64", uint64(limit))
	off := p.add("UInt64", uint64(q.Offset))
	// The page carries the number of groups (a window over them, computed
	// in the same pass); only a page past the end needs the count query.
	page = built{
		sql:    "SELECT *, toInt64(count() OVER ()) AS c_total FROM (" + grouped + ") ORDER BY " + strings.Join(order, ", ") + " LIMIT " + lim + " OFFSET " + off,
		params: p.list,
	}
	return page, count, nil
}

// keyPrewhere is the PREWHERE and WHERE clauses of a read of conv_traces
// FINAL whose conditions pre are on its sort key's columns. With FINAL a
// PREWHERE on those is exact (every version of a row has the same key),
// and the other columns are then read only from granules that hold the
// conversations asked for: the primary key selects, in every part, the
// granule whose key range holds each conversation, present or not. At 1M
// spans the figures of a page's 66 conversations cost 52 ms of CPU
// without it, 22 ms with it.
func keyPrewhere(pre, conds []string) string {
	out := " PREWHERE " + and(pre)
	if len(conds) > 0 {
		out += " WHERE " + and(conds)
	}
	return out
}

// conversationDetailsSQL reads the agent names, models and detailAggs of
// the page's conversations (a bounded second query).
func conversationDetailsSQL(l layout, project string, convs []string) built {
	var p params
	return built{
		sql: "SELECT conv_key, " + convDetailCols() + " FROM " + l.table("conv_traces") + " FINAL PREWHERE project_id = " + p.add("String", project) +
			" AND conv_key IN " + p.add("Array(String)", convs) + " GROUP BY conv_key",
		params: p.list,
	}
}

// QueryConversations implements store.Reader.
func (s *Store) QueryConversations(ctx context.Context, q store.ConversationQuery) (store.ConversationPage, error) {
	defer s.reading(ctx)()
	var page store.ConversationPage
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return page, err
	}
	var search *textsearch.Query
	if strings.TrimSpace(q.Search) != "" {
		parsed, err := textsearch.Parse(q.Search)
		if err != nil {
			return page, err
		}
		search = &parsed
	}
	fs, err := store.ParseScoreFilters(q.ScoreFilters)
	if err != nil {
		return page, err
	}
	items, err := s.scoredItems(ctx, q.ProjectID)
	if err != nil {
		return page, err
	}
	byConv, _ := store.GroupScores(items)
	scored := scoreSet(fs, byConv)
	if opening(q, search, scored) {
		cands := func(n int) built { return convCandidatesSQL(s.l, q.ProjectID, n) }
		if page, ok, err := s.latestConversations(ctx, q, limit, byConv, convWalk{cands: cands}); err != nil || ok {
			return page, err
		}
	}
	if searchOpening(q, search, scored) {
		if page, ok, err := s.searchConversations(ctx, q, *search, limit, byConv); err != nil || ok {
			return page, err
		}
	}
	pb, cb, err := conversationsSQL(s.l, q, search, scored, limit)
	if err != nil {
		return page, err
	}
	page, err = s.scanConversations(ctx, pb, byConv)
	if err != nil {
		return page, err
	}
	if len(page.Conversations) == 0 {
		// Past the last page (or none): the count alone.
		err := s.scanAll(ctx, "query conversations", cb.sql, cb.params, func(r driver.Rows) error { return r.Scan(&page.Total) })
		return page, err
	}
	return page, s.conversationDetails(ctx, q.ProjectID, page.Conversations)
}

// scanConversations runs a page query of conversationsSQL: the page's
// conversations without their details, and the number of groups.
func (s *Store) scanConversations(ctx context.Context, pb built, byConv map[string]map[string]store.ScoreSummary) (store.ConversationPage, error) {
	var page store.ConversationPage
	details := 0 // the detailAggs in the page query
	for _, d := range detailAggs {
		if strings.Contains(pb.sql, " AS "+d.alias) {
			details++
		}
	}
	err := s.scanAll(ctx, "query conversations", pb.sql, pb.params, func(r driver.Rows) error {
		var f convFigures
		dest := f.dest()
		var ignored string // the details query fills them in
		for range details {
			dest = append(dest, &ignored)
		}
		if err := r.Scan(append(dest, &page.Total)...); err != nil {
			return err
		}
		page.Conversations = append(page.Conversations, f.summary(byConv))
		return nil
	})
	return page, err
}

// convFigures scans the convAggs columns of a row.
type convFigures struct {
	c                 store.ConversationSummary
	first, last, cost int64
}

func (f *convFigures) dest() []any {
	c := &f.c
	return []any{&c.ConversationID, &c.TurnCount, &c.BackgroundCount, &c.SpanCount, &c.ErrorCount, &c.RunningCount, &f.first, &f.last,
		&c.InputTokens, &c.OutputTokens, &c.CacheReadInputTokens, &c.CacheCreationInputTokens, &c.ReasoningTokens, &f.cost, &c.UnpricedCount}
}

func (f *convFigures) summary(byConv map[string]map[string]store.ScoreSummary) store.ConversationSummary {
	c := f.c
	c.FirstActivity, c.LastActivity = fromNanos(f.first), fromNanos(f.last)
	c.CostUSD = model.USD(f.cost)
	c.Scores = byConv[c.ConversationID]
	return c
}

// convDetailCols are the columns of conversationDetailsSQL after conv_key.
func convDetailCols() string {
	aggs := make([]string, len(detailAggs))
	for i, d := range detailAggs {
		aggs[i] = d.agg
	}
	return "arraySort(groupUniqArrayArray(agents)), arraySort(groupUniqArrayArray(models)), " + strings.Join(aggs, ", ")
}

// convDetails scans convDetailCols.
type convDetails struct {
	prompt, workingDir, gitBranch string
	agents, models                []string
}

func (d *convDetails) dest() []any {
	return []any{&d.agents, &d.models, &d.prompt, &d.workingDir, &d.gitBranch}
}

func (d *convDetails) apply(c *store.ConversationSummary) {
	c.AgentNames, c.Models, c.FirstPrompt = nilIfNone(d.agents), nilIfNone(d.models), d.prompt
	c.WorkingDir, c.GitBranch = d.workingDir, d.gitBranch
}

// convFiguresSQL reads every figure and detail of some conversations (the
// keys in PREWHERE, see keyPrewhere), in no order.
func convFiguresSQL(l layout, project string, keys []string) built {
	var p params
	return built{
		sql: "SELECT " + convAggs + ", " + convDetailCols() + " FROM " + l.table("conv_traces") + " FINAL PREWHERE project_id = " +
			p.add("String", project) + " AND conv_key IN " + p.add("Array(String)", keys) + " GROUP BY conv_key",
		params: p.list,
	}
}

// conversationDetails fills in the agent names, models and detailAggs of
// a page's conversations.
func (s *Store) conversationDetails(ctx context.Context, project string, convs []store.ConversationSummary) error {
	idx := make(map[string]int, len(convs))
	for i, c := range convs {
		idx[c.ConversationID] = i
	}
	d := conversationDetailsSQL(s.l, project, sortedKeys(idx))
	return s.scanAll(ctx, "query conversations", d.sql, d.params, func(r driver.Rows) error {
		var key string
		var d convDetails
		if err := r.Scan(append([]any{&key}, d.dest()...)...); err != nil {
			return err
		}
		if i, ok := idx[key]; ok {
			d.apply(&convs[i])
		}
		return nil
	})
}

// opening reports whether q is the conversations page as it opens: newest
// first, no filter, no range.
func opening(q store.ConversationQuery, search *textsearch.Query, scored *scoredSet) bool {
	if q.AgentName != "" || len(q.Filters) > 0 || search != nil || scored != nil || !q.Range.From.IsZero() || !q.Range.To.IsZero() {
		return false
	}
	return newestFirst(q.Sort, "last_activity")
}

// convCandidatesSQL reads, from the conversations rollup, the first n
// conversations by their latest activity there (an upper bound of the
// exact one, newest first) and how many conversations the project has.
func convCandidatesSQL(l layout, project string, n int) built {
	var p params
	return built{
		sql: "SELECT conv_key, max(last_ns) AS c_bound, toInt64(count() OVER ()) FROM " + l.table("conversations") +
			" WHERE project_id = " + p.add("String", project) + " GROUP BY conv_key HAVING sum(span_count) > 0" +
			" ORDER BY c_bound DESC, conv_key ASC LIMIT " + p.add("UInt64", uint64(n)),
		params: p.list,
	}
}

// latestSlackConvs is how many candidates past the page
// latestConversations reads at first; latestMaxConvs is the most it reads
// before it groups the whole project instead.
var latestSlackConvs, latestMaxConvs = 16, 20_000

// latestConversations answers the page as it opens without grouping every
// trace of the project: it reads the first n conversations by the
// rollup's latest activity (an upper bound U of the exact one: the n-th
// read has the smallest, b), computes their figures exactly from
// conv_traces, and sorts them. A conversation not read has U ≤ b, so its
// exact latest activity is ≤ b: the exact page is right once its last
// conversation is newer than b (or every conversation was read). Else it
// reads four times more. ok is false when that grows past w.max (or
// latestMaxConvs): the caller then groups everything. w.cands is the
// query of the first n candidates (convCandidatesSQL, or
// searchCandidatesSQL for the conversations that match a search); w.match,
// when set, keeps the candidates (with their figures, in order) that match
// a search (searchWalk): the
// total is then the number of matches met, a lower bound, and the walk
// goes on until one more than the page is met (or every conversation was
// read, when it is exact).
func (s *Store) latestConversations(ctx context.Context, q store.ConversationQuery, limit int,
	byConv map[string]map[string]store.ScoreSummary, w convWalk) (page store.ConversationPage, ok bool, err error) {
	need := q.Offset + limit
	for n := need + latestSlackConvs; n <= cmp.Or(w.max, latestMaxConvs); n *= 4 {
		var keys []string
		var bound, total int64
		b := w.cands(n)
		err := s.scanAll(ctx, "query conversations", b.sql, b.params, func(r driver.Rows) error {
			var key string
			if err := r.Scan(&key, &bound, &total); err != nil {
				return err
			}
			keys = append(keys, key)
			return nil
		})
		if err != nil || len(keys) == 0 {
			return store.ConversationPage{Total: total}, err == nil, err
		}
		exhausted := len(keys) < n
		convs, err := s.convFigures(ctx, q.ProjectID, keys, byConv)
		if err == nil && w.match != nil {
			convs, err = w.match(ctx, convs)
		}
		if err != nil {
			return page, false, err
		}
		more := w.match == nil || len(convs) > need // a page follows, or the total says whether one does
		if !exhausted && (len(convs) < need || need > 0 && convs[need-1].LastActivity.UnixNano() <= bound || !more) {
			continue
		}
		page.Total = total
		if w.match != nil {
			page.Total, page.TotalIsLowerBound = int64(len(convs)), !exhausted
		}
		if q.Offset < len(convs) {
			page.Conversations = convs[q.Offset:min(need, len(convs))]
		}
		return page, true, nil
	}
	return page, false, nil
}

// convWalk is how latestConversations reads its candidates.
type convWalk struct {
	cands func(n int) built
	match func(ctx context.Context, convs []store.ConversationSummary) ([]store.ConversationSummary, error)
	max   int // 0: latestMaxConvs
}

// convFigures reads the exact figures and details of some conversations,
// newest first (ties by key).
func (s *Store) convFigures(ctx context.Context, project string, keys []string, byConv map[string]map[string]store.ScoreSummary) ([]store.ConversationSummary, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	keys = slices.Sorted(slices.Values(keys))
	var convs []store.ConversationSummary
	fb := convFiguresSQL(s.l, project, keys)
	err := s.scanAll(ctx, "query conversations", fb.sql, fb.params, func(r driver.Rows) error {
		var f convFigures
		var d convDetails
		if err := r.Scan(append(f.dest(), d.dest()...)...); err != nil {
			return err
		}
		c := f.summary(byConv)
		d.apply(&c)
		convs = append(convs, c)
		return nil
	})
	slices.SortFunc(convs, func(a, b store.ConversationSummary) int {
		return cmp.Or(b.LastActivity.Compare(a.LastActivity), strings.Compare(a.ConversationID, b.ConversationID))
	})
	return convs, err
}

// scoredSet is the keys score filters keep (store.ScoreKeys).
type scoredSet struct {
	keys []string
	in   bool
}

// scoreSet is nil without filters.
func scoreSet(fs []store.ScoreFilter, scored map[string]map[string]store.ScoreSummary) *scoredSet {
	if len(fs) == 0 {
		return nil
	}
	keys, in := store.ScoreKeys(fs, scored)
	return &scoredSet{keys: keys, in: in}
}

func (x *scoredSet) cond(col string, p *params) string {
	if x.in {
		return col + " IN " + p.add("Array(String)", x.keys)
	}
	return col + " NOT IN " + p.add("Array(String)", x.keys)
}

// keeps reports whether the set keeps key.
func (x *scoredSet) keeps(key string) bool {
	_, found := slices.BinarySearch(x.keys, key)
	return found == x.in
}

func nilIfNone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
