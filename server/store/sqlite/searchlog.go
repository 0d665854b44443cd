package sqlite

import (
	"fmt"
	"slices"
)

// searchChange is one span's change as the search index sees it: the
// occurrences (conversation, start, searchable texts) of the version that
// goes (old, nil for a new span) and of the one that stays (new, nil for a
// deleted span). Every write appends its changes to search_log, one row per
// transaction, and the indexer applies them in order (index.go).
type searchChange struct {
	pk          int64 // spans.pk
	proj        int64
	trace, span string
	old, new    *searchState
}

type searchState struct {
	conv    int64 // conversations.id of the effective conversation
	started int64
	keys    []roleText
}

func (a *searchState) equal(b *searchState) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.conv == b.conv && a.started == b.started && slices.Equal(a.keys, b.keys)
}

// noteSearch records a span's change for the search index, unless it
// changes nothing there.
func (w *writeTx) noteSearch(old, new *rowState, oldKeys, newKeys []roleText) {
	c := searchChange{proj: new.proj, trace: new.traceID, span: new.spanID, pk: new.pk}
	if old != nil && len(oldKeys) > 0 {
		c.old = &searchState{conv: old.convID, started: old.started, keys: oldKeys}
	}
	if len(newKeys) > 0 {
		c.new = &searchState{conv: new.convID, started: new.started, keys: newKeys}
	}
	if c.old.equal(c.new) {
		return
	}
	w.search = append(w.search, c)
}

// noteSearchGone records a deleted span.
func (w *writeTx) noteSearchGone(old *rowState, keys []roleText) {
	if len(keys) == 0 {
		return
	}
	w.search = append(w.search, searchChange{proj: old.proj, trace: old.traceID, span: old.spanID, pk: old.pk,
		old: &searchState{conv: old.convID, started: old.started, keys: keys}})
}

// logSearch appends the write's search changes to search_log and drops
// the rows the indexer has applied.
func (w *writeTx) logSearch() error {
	if applied := w.s.ix.applied.Load(); applied > w.s.logPruned && !w.s.ix.rebuild.Load() {
		if _, err := w.exec("DELETE FROM search_log WHERE seq <= ?", applied); err != nil {
			return err
		}
		if _, err := w.exec("UPDATE store_meta SET v = ? WHERE k = 'log_pruned'", applied); err != nil {
			return err
		}
		w.s.logPruned = applied
	}
	if len(w.search) == 0 {
		return nil
	}
	st, err := w.stmt("INSERT INTO search_log (n, changes) VALUES (?, ?) RETURNING seq")
	if err != nil {
		return err
	}
	if err := st.QueryRowContext(w.ctx, len(w.search), encodeChanges(w.search, w.s.textMax)).Scan(&w.logged); err != nil {
		return fmt.Errorf("sqlite: append search log: %w", err)
	}
	return nil
}

const changesVersion = 1

// encodeChanges is the search_log.changes blob: the changes, and the
// highest text id that existed before the write (a text above it has no
// search group yet).
func encodeChanges(list []searchChange, textsBefore int64) []byte {
	e := encoder{b: make([]byte, 0, 64*len(list))}
	e.byte1(changesVersion)
	e.id(textsBefore)
	e.uvarint(uint64(len(list)))
	for i := range list {
		c := &list[i]
		e.id(c.pk)
		e.id(c.proj)
		e.str(c.trace)
		e.str(c.span)
		for _, st := range []*searchState{c.old, c.new} {
			if st == nil {
				e.byte1(0)
				continue
			}
			e.byte1(1)
			e.id(st.conv)
			e.uvarint(uint64(st.started))
			e.uvarint(uint64(len(st.keys)))
			for _, k := range st.keys {
				e.str(k.role)
				e.id(k.text)
			}
		}
	}
	return e.b
}

func decodeChanges(b []byte) (list []searchChange, textsBefore int64, err error) {
	d := decoder{b: b}
	if v := d.byte1(); v != changesVersion && d.err == nil {
		return nil, 0, fmt.Errorf("sqlite: search log version %d unknown", v)
	}
	textsBefore = d.id()
	n := d.count()
	out := make([]searchChange, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		c := searchChange{pk: d.id(), proj: d.id(), trace: d.str(), span: d.str()}
		for j := 0; j < 2; j++ {
			if d.byte1() == 0 {
				continue
			}
			st := &searchState{conv: d.id(), started: int64(d.uvarint())}
			k := d.count()
			st.keys = make([]roleText, 0, k)
			for m := 0; m < k && d.err == nil; m++ {
				st.keys = append(st.keys, roleText{role: d.str(), text: d.id()})
			}
			if j == 0 {
				c.old = st
			} else {
				c.new = st
			}
		}
		out = append(out, c)
	}
	if err := d.done(); err != nil {
		return nil, 0, err
	}
	return out, textsBefore, nil
}
