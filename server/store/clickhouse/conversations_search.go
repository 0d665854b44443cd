package clickhouse

import (
	"context"

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

// matchingConvsSQL selects the conversations that have a body matching
// the query, read without FINAL: message_occurrences FINAL merges every
// row of the table whatever the filter (at 1M spans, 575 ms of CPU of the
// 960 a page with a common word cost). The rows of a conversation no
// deletion touched are all live (a key's versions share its
// conversation: a group the writer takes back leaves an is_deleted row
// under its key), so any of its matching rows says it matches. With
// tombstones (the project has rows with is_deleted = 1), the
// conversations that have one are decided on the latest version of each
// of their keys instead, as FINAL would.
func matchingConvsSQL(l layout, project string, search textsearch.Query, tombstones bool, p *params) string {
	occ := l.table("message_occurrences")
	matching := "digest IN (" + matchingDigestsSQL(l, project, search, p) + ")"
	live := "SELECT conv_key FROM " + occ + " WHERE project_id = " + project + " AND " + matching + " AND is_deleted = 0"
	if !tombstones {
		return live
	}
	touched := "SELECT conv_key FROM " + occ + " WHERE project_id = " + project + " AND is_deleted = 1"
	return live + " AND conv_key NOT IN (" + touched + ") UNION ALL SELECT conv_key FROM " + occ + " WHERE project_id = " + project +
		" AND conv_key IN (" + touched + ") AND " + matching +
		" GROUP BY digest, conv_key, role, trace_id HAVING argMax(is_deleted, version) = 0"
}

// tombstonesSQL counts 1 when a project's message_occurrences hold a row
// with is_deleted = 1, else 0 (it reads that column, up to the first).
func tombstonesSQL(l layout, project string) built {
	var p params
	return built{
		sql: "SELECT count() FROM (SELECT 1 FROM " + l.table("message_occurrences") + " WHERE project_id = " + p.add("String", project) +
			" AND is_deleted = 1 LIMIT 1)",
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
func searchCandidatesSQL(l layout, project string, search textsearch.Query, tombstones bool, n int) built {
	var p params
	pr := p.add("String", project)
	return built{
		sql: "SELECT conv_key, max(last_ns) AS c_bound, toInt64(count() OVER ()) FROM " + l.table("conversations") +
			" WHERE project_id = " + pr + " AND conv_key IN (" + matchingConvsSQL(l, pr, search, tombstones, &p) + ")" +
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
	var tombstones uint64
	t := tombstonesSQL(s.l, q.ProjectID)
	if err := s.scanAll(ctx, "query conversations", t.sql, t.params, func(r driver.Rows) error { return r.Scan(&tombstones) }); err != nil {
		return store.ConversationPage{}, false, err
	}
	return s.latestConversations(ctx, q, limit, byConv, func(n int) built {
		return searchCandidatesSQL(s.l, q.ProjectID, search, tombstones > 0, n)
	})
}
