package clickhouse

import (
	"context"

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
// would keep it (a conversation once per such key).
func touchedLiveSQL(l layout, project string, search textsearch.Query, touched []string) built {
	var p params
	pr := p.add("String", project)
	return built{
		sql: "SELECT conv_key FROM " + l.table("message_occurrences") + " WHERE project_id = " + pr + " AND conv_key IN " +
			p.add("Array(String)", touched) + " AND digest IN (" + matchingDigestsSQL(l, pr, search, &p) + ")" +
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
// it opens, on the conversations that match: their candidates and total
// from the rollup, restricted to the matching conversations, then the
// exact figures of the first ones only. The page grouped conv_traces FINAL
// for every matching conversation before (3.4M rows and 960 ms of CPU for
// a common word at 1M spans).
func (s *Store) searchConversations(ctx context.Context, q store.ConversationQuery, search textsearch.Query, limit int,
	byConv map[string]map[string]store.ScoreSummary) (store.ConversationPage, bool, error) {
	set, err := s.scanSet(ctx, "query conversations", touchedSQL(s.l, q.ProjectID))
	if err != nil || len(set) > touchedMax {
		return store.ConversationPage{}, false, err
	}
	touched := sortedKeys(set)
	var live []string
	if len(touched) > 0 {
		seen, err := s.scanSet(ctx, "query conversations", touchedLiveSQL(s.l, q.ProjectID, search, touched))
		if err != nil {
			return store.ConversationPage{}, false, err
		}
		live = sortedKeys(seen)
	}
	return s.latestConversations(ctx, q, limit, byConv, func(n int) built {
		return searchCandidatesSQL(s.l, q.ProjectID, search, touched, live, n)
	})
}
