package clickhouse

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/store"
)

// Annotation upserts and deletes are serialized (each reads the stored
// creation time, then inserts); one whose context ends while another holds
// the turn (here the test) returns instead of waiting — a request cut off
// by the server's shutdown, or by its client.
func TestAnnotationsHonourCancellation(t *testing.T) {
	s, _ := newFakeStore(t, Config{})
	s.annMu.Lock()
	locked := true
	defer func() {
		if locked {
			s.annMu.Unlock()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range map[string]func() error{
		"upsert": func() error {
			_, err := s.UpsertAnnotation(ctx, store.Annotation{ID: "a", ProjectID: "acme/p", Ref: "agent_turn/0af7651916cd43dd8448eb211c80319c", Kind: "thumbs", Value: "up"})
			return err
		},
		"delete": func() error { return s.DeleteAnnotation(ctx, "acme/p", "a") },
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v, want context.Canceled", name, err)
			}
		case <-time.After(10 * time.Second): // a hang guard, not a speed check
			s.annMu.Unlock()
			locked = false
			<-done
			t.Fatalf("%s waited for the annotation lock after its context was cancelled", name)
		}
	}
}
