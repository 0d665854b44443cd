package clickhouse

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// searchOpening reports whether q is the conversations page with a search
// and nothing else: newest first, no other filter, no range.
func searchOpening(q store.ConversationQuery, search *textsearch.Query, scored *scoredSet) bool {
	if search == nil || q.AgentName != "" || len(q.Filters) > 0 || scored != nil || !q.Range.From.IsZero() || !q.Range.To.IsZero() {
		return false
	}
	return newestFirst(q.Sort, "last_activity")
}

// matchingConvsSQL is the condition on conv_key of the conversations that
// have a body matching the query, read without FINAL: message_occurrences
// FINAL merges every row of the table whatever the filter (at 1M spans,
// 575 ms of CPU of the 960 a page with a common word cost). The rows of a
// conversation no deletion touched are all live (a key's versions share
// its conversation: a group the writer takes back leaves an is_deleted
// row under its key), so any of its matching rows says it matches. The
// conversations that have such a tombstone (touched) were decided on the
// latest version of each of their keys (touchedLiveSQL): live are those
// that match. Both are lists, not subqueries: on Distributed tables a
// subquery inside this one's IN is refused ("Invalid local IN function
// name globalIn").
func matchingConvsSQL(l layout, project string, search textsearch.Query, touched, live []string, p *params) string {
	sub := "conv_key IN (SELECT conv_key FROM " + l.table("message_occurrences") + " WHERE project_id = " + project +
		" AND digest IN (" + matchingDigestsSQL(l, project, search, p) + ") AND is_deleted = 0"
	if len(touched) == 0 {
		return sub + ")"
	}
	sub += " AND conv_key NOT IN " + p.add("Array(String)", touched) + ")"
	if len(live) == 0 {
		return sub
	}
	return "(" + sub + " OR conv_key IN " + p.add("Array(String)", live) + ")"
}

// touchedLiveSQL reads, of the conversations with tombstones, those with
// a live matching key: each key's latest version not deleted, as FINAL
// would keep it (a conversation once per such key). The matching bodies
// are digests when given (those known to match), else every body that
// matches search.
func touchedLiveSQL(l layout, project string, search textsearch.Query, touched, digests []string) built {
	var p params
	pr := p.add("String", project)
	var matching string
	if digests != nil {
		matching = p.add("Array(String)", digests)
	} else {
		matching = "(" + matchingDigestsSQL(l, pr, search, &p) + ")"
	}
	return built{
		sql: "SELECT conv_key FROM " + l.table("message_occurrences") + " WHERE project_id = " + pr + " AND conv_key IN " +
			p.add("Array(String)", touched) + " AND digest IN " + matching +
			" GROUP BY digest, conv_key, role, trace_id HAVING argMax(is_deleted, version) = 0" + inSetIndexMax,
		params: p.list,
	}
}

// touchedMax is the most conversations with tombstones a search page
// decides key by key (their keys' rows are grouped); past it, the page
// groups every match (conversationsSQL).
const touchedMax = 10_000

// touchedSQL reads the conversations of a project that have a row with
// is_deleted = 1 in message_occurrences, up to touchedMax + 1.
func touchedSQL(l layout, project string) built {
	var p params
	return built{
		sql: "SELECT DISTINCT conv_key FROM " + l.table("message_occurrences") + " WHERE project_id = " + p.add("String", project) +
			" AND is_deleted = 1 LIMIT " + p.add("UInt64", uint64(touchedMax+1)),
		params: p.list,
	}
}

// inSetIndexMax is the setting that keeps a large IN set out of the
// primary key analysis: a common word's set of matching digests (252,000
// at 1M spans) checked against message_occurrences' marks cost 700 ms of
// CPU before a row was read, to select every granule anyway. A small set
// (a rare word) still selects its granules.
const inSetIndexMax = " SETTINGS use_index_for_in_with_subqueries_max_values = 10000"

// searchCandidatesSQL is convCandidatesSQL for the conversations that
// match a search: the first n by the rollup's latest activity, and how
// many there are (exact: the rollup names every conversation that has
// spans, and only those).
func searchCandidatesSQL(l layout, project string, search textsearch.Query, touched, live []string, n int) built {
	var p params
	pr := p.add("String", project)
	return built{
		sql: "SELECT conv_key, max(last_ns) AS c_bound, toInt64(count() OVER ()) FROM " + l.table("conversations") +
			" WHERE project_id = " + pr + " AND " + matchingConvsSQL(l, pr, search, touched, live, &p) +
			" GROUP BY conv_key HAVING sum(span_count) > 0 ORDER BY c_bound DESC, conv_key ASC LIMIT " + p.add("UInt64", uint64(n)) + inSetIndexMax,
		params: p.list,
	}
}

// searchConversations answers the conversations page with a search (and
// nothing else, newest first) as latestConversations answers the page as
// it opens, on the conversations that match. Unless the exact total is
// asked for, a query that many bodies match walks the conversations
// newest first and keeps those that match (searchWalk), its total a lower
// bound; otherwise the candidates and the exact total come from the
// rollup, restricted to the matching conversations, then the exact
// figures of the first ones only. The page grouped conv_traces FINAL for
// every matching conversation before (3.4M rows and 960 ms of CPU for a
// common word at 1M spans); the exact total still reads every occurrence
// of every matching body (818 ms at 10M spans for a word in 19 % of them).
func (s *Store) searchConversations(ctx context.Context, q store.ConversationQuery, search textsearch.Query, limit int,
	byConv map[string]map[string]store.ScoreSummary) (store.ConversationPage, bool, error) {
	set, err := s.scanSet(ctx, "query conversations", touchedSQL(s.l, q.ProjectID))
	if err != nil || len(set) > touchedMax {
		return store.ConversationPage{}, false, err
	}
	if !q.ExactTotal {
		walk, err := s.searchWalk(ctx, q.ProjectID, search, set)
		if err != nil {
			return store.ConversationPage{}, false, err
		}
		if walk != nil {
			if page, ok, err := s.latestConversations(ctx, q, limit, byConv, *walk); err != nil || ok {
				return page, ok, err
			}
		}
	}
	touched := sortedKeys(set)
	var live []string
	if len(touched) > 0 {
		seen, err := s.scanSet(ctx, "query conversations", touchedLiveSQL(s.l, q.ProjectID, search, touched, nil))
		if err != nil {
			return store.ConversationPage{}, false, err
		}
		live = sortedKeys(seen)
	}
	return s.latestConversations(ctx, q, limit, byConv, convWalk{cands: func(n int) built {
		return searchCandidatesSQL(s.l, q.ProjectID, search, touched, live, n)
	}})
}

// searchWalkMax is the most conversations a walk reads (four times more
// each round from the page plus latestSlackConvs) before the page is
// answered with the exact total instead: a query that few conversations
// match.
var searchWalkMax = 4_096

// searchWalk is the walk of the conversations newest first that keeps
// those matching search, or nil when few bodies match (the text index
// counts them): the matching conversations are then cheap to list
// whole. touched are the conversations with tombstones (touchedSQL).
//
// A round's candidates (with their exact figures) are matched without
// reading every match: every live occurrence of a body in a conversation
// is the start of one of its spans, so message_occurrences_by_time holds
// it within the conversation's activity, first to last (with, at most,
// rows of occurrences since replaced); the bodies named there are checked
// against the query by digest (candidatesSQL). A conversation without
// tombstones matches when one of them does; one with tombstones is
// decided on the latest version of its keys, as FINAL would.
func (s *Store) searchWalk(ctx context.Context, project string, search textsearch.Query, touched map[string]bool) (*convWalk, error) {
	var words int64
	e := manyMatchSQL(s.l, project, search, s.search.directMax)
	if err := s.scanAll(ctx, "query conversations", e.sql, e.params, func(r driver.Rows) error { return r.Scan(&words) }); err != nil {
		return nil, err
	}
	if words <= int64(s.search.directMax) {
		return nil, nil
	}
	match := func(ctx context.Context, convs []store.ConversationSummary) ([]store.ConversationSummary, error) {
		if len(convs) == 0 {
			return nil, nil
		}
		said := map[string][]string{} // digest → conversations
		b := convBodiesSQL(s.l, project, convs)
		err := s.scanAll(ctx, "query conversations", b.sql, b.params, func(r driver.Rows) error {
			var conv, digest string
			if err := r.Scan(&conv, &digest); err != nil {
				return err
			}
			said[digest] = append(said[digest], conv)
			return nil
		})
		if err != nil || len(said) == 0 {
			return nil, err
		}
		matched, err := s.scanSet(ctx, "query conversations", candidatesSQL(s.l, project, search, sortedKeys(said)))
		if err != nil {
			return nil, err
		}
		kept, check, checkDigests := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for digest := range matched {
			for _, conv := range said[digest] {
				if touched[conv] {
					check[conv], checkDigests[digest] = true, true
				} else {
					kept[conv] = true
				}
			}
		}
		if len(check) > 0 {
			live, err := s.scanSet(ctx, "query conversations", touchedLiveSQL(s.l, project, search, sortedKeys(check), sortedKeys(checkDigests)))
			if err != nil {
				return nil, err
			}
			maps.Copy(kept, live)
		}
		return slices.DeleteFunc(convs, func(c store.ConversationSummary) bool { return !kept[c.ConversationID] }), nil
	}
	cands := func(n int) built { return convCandidatesSQL(s.l, project, n) }
	return &convWalk{cands: cands, match: match, max: searchWalkMax}, nil
}

// manyMatchSQL counts the bodies that have every word of the query (from
// the text index), up to max + 1 on a single node: the search's estimate
// (estimateSQL) also counts every body of the project (27 ms of CPU at 1M
// spans, 7 ms for this). On a cluster it counts them all: a LIMIT met
// cancels the other shards' answers as they stream in, and the engine of
// the cluster tests (chDB 26.7) can abort on such a reset connection
// (tools/chlocal).
func manyMatchSQL(l layout, project string, search textsearch.Query, max int) built {
	var p params
	sql := "SELECT toInt64(count()) FROM (SELECT 1 FROM " + l.table("message_content") + " WHERE " +
		and(matchConds(l, p.add("String", project), search, &p, true))
	if !l.isCluster() {
		sql += " LIMIT " + p.add("UInt64", uint64(max+1))
	}
	return built{sql: sql + ")", params: p.list}
}

// convBodiesSQL reads the bodies said in some conversations, from the
// occurrences sorted by start: within the conversations' activity (first
// to last, joined where they overlap), the keys in PREWHERE.
func convBodiesSQL(l layout, project string, convs []store.ConversationSummary) built {
	spans := make([][2]int64, len(convs))
	keys := make([]string, len(convs))
	for i, c := range convs {
		spans[i], keys[i] = [2]int64{c.FirstActivity.UnixNano(), c.LastActivity.UnixNano()}, c.ConversationID
	}
	slices.SortFunc(spans, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	var p params
	var ranges []string
	for i := 0; i < len(spans); {
		lo, hi := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= hi; i++ {
			hi = max(hi, spans[i][1])
		}
		ranges = append(ranges, "started_at >= fromUnixTimestamp64Nano("+p.add("Int64", lo)+", 'UTC') AND started_at <= fromUnixTimestamp64Nano("+
			p.add("Int64", hi)+", 'UTC')")
	}
	slices.Sort(keys)
	pr := p.add("String", project)
	return built{
		sql: "SELECT DISTINCT conv_key, digest FROM " + l.table("message_occurrences_by_time") + " PREWHERE project_id = " + pr +
			" AND conv_key IN " + p.add("Array(String)", keys) + " WHERE project_id = " + pr + " AND (" + strings.Join(ranges, " OR ") + ")",
		params: p.list,
	}
}
