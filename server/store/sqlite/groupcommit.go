package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group commit. Every write transaction pays a fixed cost whatever its
// size: the commit writes each page it dirtied (the random pages of the
// digest and span-key indexes dominate), fsyncs the WAL, and appends one
// search_log row that the indexer applies in one pass. Concurrent OTLP
// requests each bring a batch, often a small one (an agent daemon flushes
// a few spans at a time), so WriteSpans merges the batches waiting for the
// writer into one transaction: the caller that gets the writer leads, takes
// the queue in arrival order (up to maxGroupSpans spans), writes it, and
// hands every member its result; the others wait for theirs.
//
// The merged batch is the members' winners in arrival order, reduced again
// by batchWinners: the upsert rule (the last finished copy of a span wins,
// else its last copy) gives the same rows whether the batches are applied
// one after the other or together. Each member is still all or nothing: if
// the group's transaction fails, nothing of it is committed and each member
// is written again alone, so one member's failure is its own.

// maxGroupSpans bounds a group: past it, the queue's remaining members
// form the next group. A member's batch is never split.
const maxGroupSpans = 5000

type writeGroup struct {
	lead  chan struct{} // held by the caller writing a group
	mu    sync.Mutex
	queue []*groupMember
	// failGroup, when set (tests), fails every merged transaction of more
	// than one member before it is committed.
	failGroup func() error
}

type groupMember struct {
	ctx     context.Context
	winners []*prepSpan
	done    chan error // buffered: the leader never waits for the member
}

func newWriteGroup() *writeGroup {
	return &writeGroup{lead: make(chan struct{}, 1)}
}

// writeGrouped writes winners (one WriteSpans call's batch) in a group
// transaction and returns once it is committed or has failed.
func (s *Store) writeGrouped(ctx context.Context, winners []*prepSpan) error {
	g := s.group
	m := &groupMember{ctx: ctx, winners: winners, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, m)
	g.mu.Unlock()
	select {
	case err := <-m.done:
		return err
	case g.lead <- struct{}{}:
	case <-ctx.Done():
		// The leader skips a member whose context is done unless it had
		// already taken it into the group it writes: the batch may still
		// be written (an upsert: a retry converges).
		return fmt.Errorf("sqlite: waiting for a group write: %w (the batch may still be written)", ctx.Err())
	}
	defer func() { <-g.lead }()
	// Lead until this caller's own batch is written: the members queued
	// before it go first.
	for {
		select {
		case err := <-m.done:
			return err
		default:
		}
		group := g.take()
		if len(group) == 0 {
			// Cannot happen: this caller's batch stays queued until a
			// leader has sent its result. Wait for it rather than spin.
			return <-m.done
		}
		s.writeGroupOf(group)
	}
}

// take removes the next group from the queue: its first member and the
// following ones while the group stays within maxGroupSpans.
func (g *writeGroup) take() []*groupMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, spans := 0, 0
	for n < len(g.queue) && (n == 0 || spans+len(g.queue[n].winners) <= maxGroupSpans) {
		spans += len(g.queue[n].winners)
		n++
	}
	members := append([]*groupMember(nil), g.queue[:n]...)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	return members
}

// writeGroupOf writes the members' batches in one transaction, or each
// alone if that fails, and sends every member its result.
func (s *Store) writeGroupOf(members []*groupMember) {
	live := make([]*groupMember, 0, len(members))
	for _, m := range members {
		if err := m.ctx.Err(); err != nil {
			m.done <- fmt.Errorf("sqlite: %w", err)
			continue
		}
		live = append(live, m)
	}
	alone := func(m *groupMember) {
		m.done <- s.inWriteTx(m.ctx, func(w *writeTx) error { return w.writeSpans(m.winners) })
	}
	switch len(live) {
	case 0:
		return
	case 1:
		alone(live[0])
		return
	}
	var all []*prepSpan
	for _, m := range live {
		all = append(all, m.winners...)
	}
	// The group is not canceled with the leader's request: the others are
	// still waiting for it.
	err := s.inWriteTx(context.WithoutCancel(live[0].ctx), func(w *writeTx) error {
		if err := w.writeSpans(batchWinners(all)); err != nil {
			return err
		}
		if f := s.group.failGroup; f != nil {
			return f()
		}
		return nil
	})
	if err == nil {
		for _, m := range live {
			m.done <- nil
		}
		return
	}
	if errors.Is(err, errClosed) {
		for _, m := range live {
			m.done <- err
		}
		return
	}
	s.log.Warn("group write failed; writing its batches one by one", "batches", len(live), "spans", len(all), "err", err)
	for _, m := range live {
		alone(m)
	}
}
