package sqlite

import (
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// Search groups live in the search file (index.go): msg_groups holds one
// row per (conversation, role, text) with the number of spans carrying it
// and its first occurrence; groups_fts one document per group. The indexer
// applies the changes the writer logged, as deltas aggregated per group.

type groupKey struct {
	conv int64
	role string
	text int64
}

// groupCand is a first-occurrence candidate of a search group.
type groupCand struct {
	started       int64
	trace, spanID string
	pk            int64
}

func (a *groupCand) less(b *groupCand) bool {
	if a.started != b.started {
		return a.started < b.started
	}
	if a.trace != b.trace {
		return a.trace < b.trace
	}
	return a.spanID < b.spanID
}

type groupDelta struct {
	proj    int64
	count   int64
	removed map[int64]bool // spans whose stored occurrence (from before the pass) may have gone
	// cands are the occurrences this pass added and still holds: a later
	// change of the same span (its old version is the one an earlier change
	// of the pass added) takes its candidate out again.
	cands []groupCand
}

// groupDeltas accumulate the search changes of one indexer pass.
type groupDeltas map[groupKey]*groupDelta

// add records one logged change: the old version's occurrences leave
// their groups, the new version's join theirs.
func (d groupDeltas) add(c *searchChange) {
	if c.old != nil {
		for _, k := range c.old.keys {
			g := d.get(groupKey{c.old.conv, k.role, k.text}, c.proj)
			g.count--
			if g.removed == nil {
				g.removed = make(map[int64]bool)
			}
			g.removed[c.pk] = true
			g.cands = slices.DeleteFunc(g.cands, func(x groupCand) bool { return x.pk == c.pk })
		}
	}
	if c.new != nil {
		for _, k := range c.new.keys {
			g := d.get(groupKey{c.new.conv, k.role, k.text}, c.proj)
			g.count++
			g.cands = append(g.cands, groupCand{started: c.new.started, trace: c.trace, spanID: c.span, pk: c.pk})
		}
	}
}

// best is the earliest occurrence the pass added and still holds, nil if
// none.
func (g *groupDelta) best() *groupCand {
	var b *groupCand
	for i := range g.cands {
		if b == nil || g.cands[i].less(b) {
			b = &g.cands[i]
		}
	}
	return b
}

func (d groupDeltas) get(k groupKey, proj int64) *groupDelta {
	g := d[k]
	if g == nil {
		g = &groupDelta{proj: proj}
		d[k] = g
	}
	return g
}

// applyGroups writes the deltas to msg_groups and queues the search
// document changes.
func (x *idxTx) applyGroups(d groupDeltas) error {
	keys := make([]groupKey, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	// A fixed order keeps the b-tree writes local and the runs repeatable.
	slices.SortFunc(keys, func(a, b groupKey) int {
		if a.conv != b.conv {
			return cmpInt(a.conv, b.conv)
		}
		if c := strings.Compare(a.role, b.role); c != 0 {
			return c
		}
		return cmpInt(a.text, b.text)
	})
	recompute := make(map[int64][]groupKey)
	for _, k := range keys {
		again, err := x.applyGroup(k, d[k])
		if err != nil {
			return err
		}
		if again {
			recompute[k.conv] = append(recompute[k.conv], k)
		}
	}
	convs := make([]int64, 0, len(recompute))
	for conv := range recompute {
		convs = append(convs, conv)
	}
	slices.Sort(convs)
	for _, conv := range convs {
		if err := x.recomputeGroups(conv, recompute[conv]); err != nil {
			return err
		}
	}
	return nil
}

// applyGroup applies one group's delta. recompute: its first occurrence
// left and no candidate is known to be first, so its conversation's
// groups are read again (recomputeGroups).
func (x *idxTx) applyGroup(k groupKey, g *groupDelta) (recompute bool, err error) {
	best := g.best()
	if len(g.removed) == 0 && best != nil && k.text > x.newAbove {
		inserted, err := x.insertGroup(k, g.proj, g.count, best)
		if err != nil || inserted {
			return false, err
		}
		// A group of a text id that retention freed and a write
		// reused, left by a rebuild: update it below.
	}
	var count, firstAt, firstPK, gid int64
	st, err := x.stmt("SELECT span_count, first_at, first_pk, gid FROM msg_groups WHERE conv_id = ? AND role = ? AND text_id = ?")
	if err != nil {
		return false, err
	}
	err = st.QueryRowContext(x.ctx, k.conv, k.role, k.text).Scan(&count, &firstAt, &firstPK, &gid)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sqlite: read msg group: %w", err)
	}
	count += g.count
	switch {
	case count <= 0 && exists:
		if _, err := x.exec("DELETE FROM msg_groups WHERE conv_id = ? AND role = ? AND text_id = ?", k.conv, k.role, k.text); err != nil {
			return false, err
		}
		x.ftsDelete(gid)
		return false, nil
	case count <= 0:
		return false, nil
	case !exists:
		if best == nil {
			return false, fmt.Errorf("sqlite: msg group %v has spans but no occurrence", k)
		}
		_, err := x.insertGroup(k, g.proj, count, best)
		return false, err
	}
	switch {
	case g.removed[firstPK]:
		// The first span was replaced or moved: a candidate strictly
		// earlier, or the same span at the same time, is still first.
		if best != nil && (best.started < firstAt || (best.pk == firstPK && best.started == firstAt)) {
			firstAt, firstPK = best.started, best.pk
		} else {
			recompute = true
		}
	case best != nil:
		earlier, err := x.candidateEarlier(best, firstAt, firstPK)
		if err != nil {
			return false, err
		}
		if earlier {
			firstAt, firstPK = best.started, best.pk
		}
	}
	if _, err := x.exec("UPDATE msg_groups SET span_count = ?, first_at = ?, first_pk = ? WHERE conv_id = ? AND role = ? AND text_id = ?",
		count, firstAt, firstPK, k.conv, k.role, k.text); err != nil {
		return false, err
	}
	return recompute, x.moveGroup(k, g.proj, gid, firstAt)
}

// Search group ids: the millisecond of first_at above gidShift bits, a
// hash of the group key (probed on collision) below.
const (
	gidShift = 20
	gidMask  = 1<<gidShift - 1
	gidMaxMS = 1 << 42 // ± about 139 years around 1970; beyond, times are clamped
)

func gidMS(firstAt int64) int64 {
	ms := store.FloorDiv(firstAt, 1e6)
	return max(-gidMaxMS, min(gidMaxMS, ms))
}

func gidFor(firstAt int64, k groupKey, probe int64) int64 {
	h := uint64(k.conv)*0x9E3779B97F4A7C15 ^ uint64(k.text)*0xC2B2AE3D27D4EB4F
	for i := 0; i < len(k.role); i++ {
		h = (h ^ uint64(k.role[i])) * 0x100000001B3
	}
	h ^= h >> 29
	return gidMS(firstAt)<<gidShift + (int64(h&gidMask)+probe)&gidMask
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// ftsOp is a pending change to groups_fts. FTS5 flushes its in-memory
// index at every statement savepoint, and the group upserts open one each,
// so the changes are queued and applied together at the end of the pass
// (applyFTS), where they cost one flush.
type ftsOp struct {
	del  bool
	gid  int64
	key  groupKey
	proj int64
}

// ftsInsert queues indexing a group's text under gid.
func (x *idxTx) ftsInsert(gid int64, k groupKey, proj int64) {
	x.fts = append(x.fts, ftsOp{gid: gid, key: k, proj: proj})
}

// ftsDelete queues removing a group's document.
func (x *idxTx) ftsDelete(gid int64) {
	x.fts = append(x.fts, ftsOp{del: true, gid: gid})
}

// applyFTS runs the queued index changes: their net effect per gid,
// deletions then insertions, each in ascending rowid order (FTS5 also
// flushes when rowids of pending writes go backwards).
func (x *idxTx) applyFTS() error {
	type net struct {
		del bool   // a document stored before this pass goes
		ins *ftsOp // the document to store
	}
	state := make(map[int64]*net, len(x.fts))
	var textIDs []int64
	for i := range x.fts {
		op := &x.fts[i]
		st := state[op.gid]
		if st == nil {
			st = &net{}
			state[op.gid] = st
		}
		switch {
		case !op.del:
			st.ins = op
			textIDs = append(textIDs, op.key.text)
		case st.ins != nil: // inserted by this pass, removed again
			st.ins = nil
		default:
			st.del = true
		}
	}
	gids := make([]int64, 0, len(state))
	for gid := range state {
		gids = append(gids, gid)
	}
	slices.Sort(gids)
	for _, gid := range gids {
		if state[gid].del {
			if _, err := x.exec("DELETE FROM groups_fts WHERE rowid = ?", gid); err != nil {
				return err
			}
		}
	}
	bodies, err := x.bodies(textIDs)
	if err != nil {
		return err
	}
	for _, gid := range gids {
		op := state[gid].ins
		if op == nil {
			continue
		}
		// A text missing from the main file was freed by retention after
		// this change was logged; a later change removes the group.
		if _, err := x.exec("INSERT INTO groups_fts (rowid, meta, body) VALUES (?, ?, ?)",
			gid, groupMeta(op.proj, op.key.conv, op.key.role), textsearch.IndexText(bodies[op.key.text])); err != nil {
			return err
		}
	}
	x.fts = x.fts[:0]
	return nil
}

// groupMeta is the filter tokens of a group's search document.
func groupMeta(proj, conv int64, role string) string {
	return fmt.Sprintf("p%d c%d %s", proj, conv, roleToken(role))
}

func roleToken(role string) string { return "r" + hex.EncodeToString([]byte(role)) }

// insertGroup creates a group row and queues its search document. It
// reports false, changing nothing, if the group exists.
func (x *idxTx) insertGroup(k groupKey, proj, count int64, first *groupCand) (bool, error) {
	for probe := int64(0); ; probe++ {
		gid := gidFor(first.started, k, probe)
		res, err := x.exec(`INSERT INTO msg_groups (conv_id, role, text_id, proj, span_count, first_at, first_pk, gid)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conv_id, role, text_id) DO NOTHING`,
			k.conv, k.role, k.text, proj, count, first.started, first.pk, gid)
		if isUniqueViolation(err) && probe < gidMask {
			continue // another group has this gid
		}
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return false, err
		}
		x.ftsInsert(gid, k, proj)
		return true, nil
	}
}

// moveGroup gives a group whose first_at changed millisecond a new gid.
func (x *idxTx) moveGroup(k groupKey, proj, oldGid, firstAt int64) error {
	if oldGid>>gidShift == gidMS(firstAt) {
		return nil
	}
	for probe := int64(0); ; probe++ {
		gid := gidFor(firstAt, k, probe)
		_, err := x.exec("UPDATE msg_groups SET gid = ? WHERE conv_id = ? AND role = ? AND text_id = ?", gid, k.conv, k.role, k.text)
		if isUniqueViolation(err) && probe < gidMask {
			continue
		}
		if err != nil {
			return err
		}
		x.ftsDelete(oldGid)
		x.ftsInsert(gid, k, proj)
		return nil
	}
}

// candidateEarlier reports whether c comes before the stored first
// occurrence (firstAt, firstPK) in (started_at, trace_id, span_id) order.
// A first span that retention deleted meanwhile counts as later.
func (x *idxTx) candidateEarlier(c *groupCand, firstAt, firstPK int64) (bool, error) {
	if c.started != firstAt || c.pk == firstPK {
		return c.started < firstAt, nil
	}
	q, err := x.mainTx()
	if err != nil {
		return false, err
	}
	var trace, span string
	err = q.QueryRowContext(x.ctx, "SELECT trace_id, span_id FROM spans WHERE pk = ?", firstPK).Scan(&trace, &span)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: msg group first span: %w", err)
	}
	return c.less(&groupCand{started: firstAt, trace: trace, spanID: span}), nil
}

// recomputeGroups finds the first occurrence of groups whose first span
// was replaced or moved, scanning the conversation's spans in order in the
// main file. The main file may be ahead of the change being applied (the
// indexer lags the writer): a group none of whose spans is left there is
// removed by the changes still to come, and keeps its first occurrence
// until then.
func (x *idxTx) recomputeGroups(conv int64, keys []groupKey) error {
	q, err := x.mainTx()
	if err != nil {
		return err
	}
	want := make(map[roleText]groupKey, len(keys))
	for _, k := range keys {
		want[roleText{k.role, k.text}] = k
	}
	const chunk = 256
	var after struct {
		started       int64
		trace, spanID string
		set           bool
	}
	for len(want) > 0 {
		sq := `SELECT pk, trace_id, span_id, started_at FROM spans WHERE conv_id = ?`
		args := []any{conv}
		if after.set {
			sq += ` AND (started_at, trace_id, span_id) > (?, ?, ?)`
			args = append(args, after.started, after.trace, after.spanID)
		}
		sq += ` ORDER BY started_at, trace_id, span_id LIMIT ` + fmt.Sprint(chunk)
		rows, err := q.QueryContext(x.ctx, sq, args...)
		if err != nil {
			return fmt.Errorf("sqlite: recompute search groups: %w", err)
		}
		var cands []groupCand
		for rows.Next() {
			var c groupCand
			if err := rows.Scan(&c.pk, &c.trace, &c.spanID, &c.started); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: recompute search groups: %w", err)
			}
			cands = append(cands, c)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: recompute search groups: %w", err)
		}
		if len(cands) == 0 {
			break
		}
		pks := make([]int64, len(cands))
		for i, c := range cands {
			pks[i] = c.pk
		}
		keysBy, err := spanKeysFrom(x.ctx, q, pks)
		if err != nil {
			return err
		}
		for _, c := range cands {
			for _, rt := range keysBy[c.pk] {
				gk, ok := want[rt]
				if !ok {
					continue
				}
				delete(want, rt)
				var gid, proj int64
				if err := x.tx.QueryRowContext(x.ctx, "SELECT gid, proj FROM msg_groups WHERE conv_id = ? AND role = ? AND text_id = ?",
					gk.conv, gk.role, gk.text).Scan(&gid, &proj); err != nil {
					return fmt.Errorf("sqlite: recompute search groups: %w", err)
				}
				if _, err := x.exec("UPDATE msg_groups SET first_at = ?, first_pk = ? WHERE conv_id = ? AND role = ? AND text_id = ?",
					c.started, c.pk, gk.conv, gk.role, gk.text); err != nil {
					return err
				}
				if err := x.moveGroup(gk, proj, gid, c.started); err != nil {
					return err
				}
			}
		}
		last := cands[len(cands)-1]
		after.started, after.trace, after.spanID, after.set = last.started, last.trace, last.spanID, true
	}
	return nil
}
