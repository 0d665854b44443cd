package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/weavetrace/weave/server/store"
)

// SearchRequest is the body of /genai/messages/search.
type SearchRequest struct {
	projectPart
	Query          string   `json:"query"`
	Roles          []string `json:"roles"`
	AgentName      string   `json:"agent_name"`
	ConversationID string   `json:"conversation_id"`
	rangePart
	pagePart
}

func (q *SearchRequest) validate() error {
	if err := checkText("query", q.Query, true); err != nil {
		return err
	}
	if len(q.Roles) > 20 {
		return invalid("roles", "at most 20 roles, got %d", len(q.Roles))
	}
	for i, r := range q.Roles {
		if err := checkText(fmt.Sprintf("roles[%d]", i), r, true); err != nil {
			return err
		}
	}
	if err := checkText("agent_name", q.AgentName, false); err != nil {
		return err
	}
	if len(q.ConversationID) > maxConversations {
		return invalid("conversation_id", "conversation_id is longer than %d bytes", maxConversations)
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(50)
}

// SnippetPart is a run of snippet text; Match marks a run that matched the
// query. Rendering the parts as text nodes (never as markup) is safe
// whatever the messages contain.
type SnippetPart struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// SearchHit is one hit: the store's hit with its snippet as plain text
// (highlight marks removed) and as parts.
type SearchHit struct {
	store.SearchHit
	SnippetParts []SnippetPart `json:"snippet_parts"`
}

// SearchResults is the answer of /genai/messages/search.
type SearchResults struct {
	Hits   []SearchHit `json:"hits"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

func (h *Handler) messagesSearch(ctx context.Context, q *SearchRequest) (SearchResults, error) {
	hits, err := h.s.Store.SearchMessages(ctx, store.SearchQuery{
		ProjectID:      q.ProjectID,
		Query:          q.Query,
		Roles:          q.Roles,
		AgentName:      q.AgentName,
		ConversationID: q.ConversationID,
		Range:          q.r,
		Limit:          q.Limit,
		Offset:         q.Offset,
	})
	if err != nil {
		return SearchResults{}, err
	}
	out := SearchResults{Hits: make([]SearchHit, 0, len(hits)), Limit: q.Limit, Offset: q.Offset}
	for _, hit := range hits {
		parts := snippetParts(hit.Snippet)
		var plain strings.Builder
		for _, p := range parts {
			plain.WriteString(p.Text)
		}
		hit.Snippet = plain.String()
		out.Hits = append(out.Hits, SearchHit{SearchHit: hit, SnippetParts: parts})
	}
	return out, nil
}

// Highlight marks the store puts around matched terms.
const (
	markOpen  = "«"
	markClose = "»"
)

// snippetParts splits a snippet with «marked» terms into runs. An unpaired
// mark is kept as text.
func snippetParts(s string) []SnippetPart {
	parts := []SnippetPart{}
	add := func(text string, match bool) {
		if text == "" {
			return
		}
		if n := len(parts); n > 0 && parts[n-1].Match == match {
			parts[n-1].Text += text
			return
		}
		parts = append(parts, SnippetPart{Text: text, Match: match})
	}
	for s != "" {
		i := strings.Index(s, markOpen)
		if i < 0 {
			add(s, false)
			break
		}
		j := strings.Index(s[i+len(markOpen):], markClose)
		if j < 0 {
			add(s, false)
			break
		}
		add(s[:i], false)
		add(s[i+len(markOpen):i+len(markOpen)+j], true)
		s = s[i+len(markOpen)+j+len(markClose):]
	}
	return parts
}
