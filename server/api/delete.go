package api

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/store"
)

// maxDeleteIDs bounds the traces or conversations one delete request names.
const maxDeleteIDs = 1000

// TracesDeleteRequest is the body of /genai/traces/delete.
type TracesDeleteRequest struct {
	projectPart
	TraceIDs []string `json:"trace_ids"`
}

func (q *TracesDeleteRequest) validate() error {
	if len(q.TraceIDs) == 0 {
		return invalid("trace_ids", "trace_ids lists 1 to %d traces, got none", maxDeleteIDs)
	}
	return checkTraceIDs(q.TraceIDs)
}

// checkTraceIDs checks a list of at most maxDeleteIDs trace ids and
// lower-cases them.
func checkTraceIDs(ids []string) error {
	if len(ids) > maxDeleteIDs {
		return invalid("trace_ids", "trace_ids lists at most %d traces, got %d", maxDeleteIDs, len(ids))
	}
	for i, id := range ids {
		var err error
		if ids[i], err = checkHexID(fmt.Sprintf("trace_ids[%d]", i), id, 32); err != nil {
			return err
		}
	}
	return nil
}

// ConversationsDeleteRequest is the body of /genai/conversations/delete.
type ConversationsDeleteRequest struct {
	projectPart
	ConversationIDs []string `json:"conversation_ids"`
}

func (q *ConversationsDeleteRequest) validate() error {
	if len(q.ConversationIDs) == 0 {
		return invalid("conversation_ids", "conversation_ids lists 1 to %d conversations, got none", maxDeleteIDs)
	}
	return checkConversationIDs(q.ConversationIDs)
}

// checkConversationIDs checks a list of at most maxDeleteIDs conversation
// ids.
func checkConversationIDs(ids []string) error {
	if len(ids) > maxDeleteIDs {
		return invalid("conversation_ids", "conversation_ids lists at most %d conversations, got %d", maxDeleteIDs, len(ids))
	}
	for i, id := range ids {
		field := fmt.Sprintf("conversation_ids[%d]", i)
		switch {
		case id == "":
			return invalid(field, "empty conversation id")
		case len(id) > maxConversations:
			return invalid(field, "conversation id longer than %d bytes", maxConversations)
		case !utf8.ValidString(id):
			return invalid(field, "conversation id is not UTF-8")
		}
	}
	return nil
}

// DeleteResponse is the answer of the delete endpoints: what went.
type DeleteResponse struct {
	Deleted store.Deleted `json:"deleted"`
}

// errNoDelete answers a delete on a store that cannot delete.
var errNoDelete = fmt.Errorf("api: this store does not delete data: %w", errors.ErrUnsupported)

func (h *Handler) deleter() (store.Deleter, error) {
	d, ok := h.s.Store.(store.Deleter)
	if !ok {
		return nil, errNoDelete
	}
	return d, nil
}

func (h *Handler) tracesDelete(ctx context.Context, q *TracesDeleteRequest) (DeleteResponse, error) {
	d, err := h.deleter()
	if err != nil {
		return DeleteResponse{}, err
	}
	res, err := d.Delete(ctx, store.Deletion{ProjectID: q.ProjectID, TraceIDs: q.TraceIDs})
	h.deleted(res)
	h.s.Logger.Info("traces deleted", "project", q.ProjectID, "traces", len(q.TraceIDs), "spans", res.Spans, "annotations", res.Annotations)
	return DeleteResponse{Deleted: res}, err
}

func (h *Handler) conversationsDelete(ctx context.Context, q *ConversationsDeleteRequest) (DeleteResponse, error) {
	d, err := h.deleter()
	if err != nil {
		return DeleteResponse{}, err
	}
	res, err := d.Delete(ctx, store.Deletion{ProjectID: q.ProjectID, ConversationIDs: q.ConversationIDs})
	h.deleted(res)
	h.s.Logger.Info("conversations deleted", "project", q.ProjectID, "conversations", len(q.ConversationIDs), "spans", res.Spans,
		"annotations", res.Annotations)
	return DeleteResponse{Deleted: res}, err
}

func (h *Handler) deleted(d store.Deleted) {
	if h.s.OnDelete != nil {
		h.s.OnDelete(d)
	}
}
