package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/store"
)

// Ref kinds, as store.Annotation.Ref prefixes them.
const (
	RefSpan         = "agent_span"
	RefTurn         = "agent_turn"
	RefConversation = "agent_conversation"
	RefAgent        = "agent"
)

// The URI forms of a ref (seed 001: the agent ref kinds come in Weave's
// external and internal forms): weave:///<entity>/<project>/<kind>/<id>
// names the project as users do; weave-trace-internal:///<internal project
// id>/<kind>/<id> by its internal id (InternalProjectID).
const (
	WeaveScheme    = "weave:///"
	InternalScheme = "weave-trace-internal:///"
)

// SpanRef, TurnRef, ConversationRef and AgentRef build the canonical
// (short) refs.
func SpanRef(spanID string) string  { return RefSpan + "/" + strings.ToLower(spanID) }
func TurnRef(traceID string) string { return RefTurn + "/" + strings.ToLower(traceID) }
func ConversationRef(conversationID string) string {
	return RefConversation + "/" + EscapeConversationID(conversationID)
}
func AgentRef(agentName string) string { return RefAgent + "/" + EscapeConversationID(agentName) }

// InternalProjectID is the project's id in internal refs. Weave keys data
// at rest by an internal project id that its internal refs carry in place
// of entity/project; weave-server keys by the project_id itself, so its
// internal id is the project_id in unpadded base64url, which never holds a
// slash (an internal ref's project part cannot).
func InternalProjectID(projectID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(projectID))
}

// RefURI and InternalRefURI turn a canonical ref of a project into its
// external and internal URI forms.
func RefURI(projectID, ref string) string { return WeaveScheme + projectID + "/" + ref }
func InternalRefURI(projectID, ref string) string {
	return InternalScheme + InternalProjectID(projectID) + "/" + ref
}

// EscapeConversationID escapes a conversation id for its ref exactly as
// JavaScript's encodeURIComponent does (UTF-8 percent-encoding of every
// byte except A–Z a–z 0–9 - _ . ! ~ * ' ( )), so refs built by the web UI
// and by the server are the same string. Agent names are escaped alike.
func EscapeConversationID(id string) string { return store.EscapeRefID(id) }

const refForms = "agent_span/<span_id>, agent_turn/<trace_id>, agent_conversation/<url-encoded conversation_id> or " +
	"agent/<url-encoded agent_name>, alone or as weave:///<entity>/<project>/<ref> or weave-trace-internal:///<internal project id>/<ref>"

// CanonicalRef validates ref, given in the short form or either URI form
// of project, and returns its canonical short form: hex ids lowercased, a
// conversation id or agent name re-escaped as EscapeConversationID does. A
// URI naming another project is refused. Errors are 400s naming field.
func CanonicalRef(field, project, ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, WeaveScheme):
		rest, ok := strings.CutPrefix(ref[len(WeaveScheme):], project+"/")
		if !ok {
			return "", invalid(field, "ref %q names another project than %q (want weave:///%s/<ref>)", truncate(ref, 120), project, project)
		}
		ref = rest
	case strings.HasPrefix(ref, InternalScheme):
		id, rest, _ := strings.Cut(ref[len(InternalScheme):], "/")
		if id != InternalProjectID(project) {
			return "", invalid(field, "ref %q names another project than %q (its internal id is %s)", truncate(ref, 120), project, InternalProjectID(project))
		}
		ref = rest
	}
	kind, rest, ok := strings.Cut(ref, "/")
	if !ok {
		return "", invalid(field, "ref %q must be %s", truncate(ref, 80), refForms)
	}
	switch kind {
	case RefSpan:
		id, err := checkHexID(field, rest, 16)
		if err != nil {
			return "", invalid(field, "agent_span ref needs a span id of 16 hexadecimal digits, got %q", truncate(rest, 80))
		}
		return SpanRef(id), nil
	case RefTurn:
		id, err := checkHexID(field, rest, 32)
		if err != nil {
			return "", invalid(field, "agent_turn ref needs a trace id of 32 hexadecimal digits, got %q", truncate(rest, 80))
		}
		return TurnRef(id), nil
	case RefConversation, RefAgent:
		what := map[string]string{RefConversation: "conversation id", RefAgent: "agent name"}[kind]
		id, err := url.PathUnescape(rest)
		switch {
		case err != nil:
			return "", invalid(field, "%s ref: the %s is not validly url-encoded: %v", kind, what, err)
		case id == "":
			return "", invalid(field, "%s ref needs a %s", kind, what)
		case len(id) > maxConversations:
			return "", invalid(field, "%s ref: %s longer than %d bytes", kind, what, maxConversations)
		case !utf8.ValidString(id) || strings.IndexFunc(id, isControl) >= 0:
			return "", invalid(field, "%s ref: %s must be UTF-8 without control characters", kind, what)
		}
		if kind == RefAgent {
			return AgentRef(id), nil
		}
		return ConversationRef(id), nil
	}
	return "", invalid(field, "unknown ref kind %q: want %s", truncate(kind, 40), refForms)
}

var (
	kindRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	idRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
)

// AnnotationUpsertRequest is the body of /genai/annotations/upsert. Without
// an id a new annotation is created; with one, that annotation is replaced
// (or created with that id).
type AnnotationUpsertRequest struct {
	projectPart
	ID     string          `json:"id"`
	Ref    string          `json:"ref"`
	Kind   string          `json:"kind"`
	Value  json.RawMessage `json:"value"`
	Author string          `json:"author"`
	// A score's fields (kind "score", see store.Annotation).
	Name     string   `json:"name"`
	DataType string   `json:"data_type"`
	Min      *float64 `json:"min"`
	Max      *float64 `json:"max"`
	TraceID  string   `json:"trace_id"`

	value any
}

func (q *AnnotationUpsertRequest) validate() error {
	if q.ID != "" && !idRE.MatchString(q.ID) {
		return invalid("id", "id must be 1 to 128 letters, digits, - or _")
	}
	var err error
	if q.Ref == "" {
		return invalid("ref", "ref is required")
	}
	if q.Ref, err = CanonicalRef("ref", q.ProjectID, q.Ref); err != nil {
		return err
	}
	if !kindRE.MatchString(q.Kind) {
		return invalid("kind", "kind must be a lowercase name such as \"thumbs\", \"note\" or \"label\" (letters, digits, _ . -; at most 64), got %q", truncate(q.Kind, 80))
	}
	raw := bytes.TrimSpace(q.Value)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return invalid("value", "value is required (any JSON value but null)")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&q.value); err != nil {
		return invalid("value", "value is not valid JSON: %v", err)
	}
	switch q.Kind {
	case KindThumbs:
		if s, _ := q.value.(string); s != "up" && s != "down" {
			return invalid("value", `a thumbs annotation's value is "up" or "down"`)
		}
	case "note", "label":
		s, ok := q.value.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return invalid("value", "a %s annotation's value is a non-empty string", q.Kind)
		}
		if len(s) > maxNoteLen {
			return invalid("value", "a %s is at most %d bytes, got %d", q.Kind, maxNoteLen, len(s))
		}
	}
	if err := checkText("author", q.Author, false); err != nil {
		return err
	}
	if q.TraceID != "" {
		id, err := checkHexID("trace_id", q.TraceID, 32)
		if err != nil {
			return err
		}
		q.TraceID = id
	}
	// The score rules are the store's (store.CheckAnnotation); checked here
	// to answer with the field at fault.
	if _, err := store.CheckAnnotation(q.annotation()); err != nil {
		var ae *store.AnnotationError
		if errors.As(err, &ae) {
			return invalid(ae.Field, "%s", ae.Msg)
		}
		return err
	}
	return nil
}

func (q *AnnotationUpsertRequest) annotation() store.Annotation {
	return store.Annotation{ID: q.ID, ProjectID: q.ProjectID, Ref: q.Ref, Kind: q.Kind, Value: q.value, Author: q.Author,
		Name: q.Name, DataType: q.DataType, Min: q.Min, Max: q.Max, TraceID: q.TraceID}
}

// Annotation is an annotation as the API answers it: the stored one, its
// ref in the canonical short form, and the same ref in both URI forms.
type Annotation struct {
	store.Annotation
	RefURI      string `json:"ref_uri"`
	InternalRef string `json:"internal_ref"`
	// TargetFound, in a query with with_target, says whether the ref's
	// target is stored now (see AnnotationResponse).
	TargetFound *bool `json:"target_found,omitempty"`
}

func withURIs(a store.Annotation) Annotation {
	return Annotation{Annotation: a, RefURI: RefURI(a.ProjectID, a.Ref), InternalRef: InternalRefURI(a.ProjectID, a.Ref)}
}

// AnnotationResponse is the answer of /genai/annotations/upsert.
// TargetFound says whether what the ref names is stored now: an annotation
// on a span, turn, conversation or agent that has not arrived yet is kept
// (spans reach the server asynchronously) and shows once it does; false
// also flags a ref that names nothing, such as a mistyped id.
type AnnotationResponse struct {
	Annotation  Annotation `json:"annotation"`
	TargetFound bool       `json:"target_found"`
}

func (h *Handler) annotationsUpsert(ctx context.Context, q *AnnotationUpsertRequest) (AnnotationResponse, error) {
	found, err := h.targetFound(ctx, q.ProjectID, q.Ref)
	if err != nil {
		return AnnotationResponse{}, err
	}
	a := q.annotation()
	if q.Kind == KindThumbs {
		a, err = h.upsertThumbs(ctx, a)
	} else {
		a, err = h.s.Store.UpsertAnnotation(ctx, a)
	}
	if err != nil {
		return AnnotationResponse{}, err
	}
	return AnnotationResponse{Annotation: withURIs(a), TargetFound: found}, nil
}

// KindThumbs is the annotation kind of a thumbs up or down.
const KindThumbs = "thumbs"

// upsertThumbs stores a thumbs annotation as the one current thumbs of its
// author on its ref: a second thumbs (whatever its id) replaces the
// author's earlier one, keeping that one's id when the request names none,
// and any other thumbs of the author on the ref is deleted. Thumbs upserts
// are serialized so two at once cannot both add one.
func (h *Handler) upsertThumbs(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	h.thumbsMu.Lock()
	defer h.thumbsMu.Unlock()
	prev, err := h.s.Store.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: a.ProjectID, Refs: []string{a.Ref}, Kind: KindThumbs, Limit: store.MaxLimit})
	if err != nil {
		return store.Annotation{}, err
	}
	var mine []store.Annotation // newest first
	for _, p := range prev {
		if p.Ref == a.Ref && p.Kind == KindThumbs && p.Author == a.Author {
			mine = append(mine, p)
		}
	}
	if a.ID == "" && len(mine) > 0 {
		a.ID = mine[0].ID
	}
	stored, err := h.s.Store.UpsertAnnotation(ctx, a)
	if err != nil {
		return store.Annotation{}, err
	}
	for _, p := range mine {
		if p.ID == stored.ID {
			continue
		}
		if err := h.s.Store.DeleteAnnotation(ctx, p.ProjectID, p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Annotation{}, err
		}
	}
	return stored, nil
}

// targetFound reports whether the target of a canonical ref is stored in
// the project: a span with that id, a trace with that id, a conversation
// with a turn, an agent with a version.
func (h *Handler) targetFound(ctx context.Context, project, ref string) (bool, error) {
	kind, id, _ := strings.Cut(ref, "/")
	switch kind {
	case RefSpan, RefTurn:
		field := map[string]string{RefSpan: "span_id", RefTurn: "trace_id"}[kind]
		spans, total, err := h.s.Store.QuerySpans(ctx, store.SpanQuery{ProjectID: project, Limit: 1,
			Filters: []store.Filter{{Field: field, Op: "eq", Value: id}}})
		return len(spans) > 0 || total > 0, err
	case RefConversation:
		conv, err := url.PathUnescape(id)
		if err != nil {
			return false, err
		}
		traces, total, err := h.s.Store.QueryTraces(ctx, store.TraceQuery{ProjectID: project, ConversationID: conv, Limit: 1})
		return len(traces) > 0 || total > 0, err
	case RefAgent:
		name, err := url.PathUnescape(id)
		if err != nil {
			return false, err
		}
		vs, err := h.s.Store.AgentVersions(ctx, project, name)
		return len(vs) > 0, err
	}
	return false, nil
}

// AnnotationDeleteRequest is the body of /genai/annotations/delete.
type AnnotationDeleteRequest struct {
	projectPart
	ID string `json:"id"`
}

func (q *AnnotationDeleteRequest) validate() error {
	if q.ID == "" {
		return invalid("id", "id is required")
	}
	if !idRE.MatchString(q.ID) {
		return invalid("id", "id must be 1 to 128 letters, digits, - or _")
	}
	return nil
}

// AnnotationDeleted is the answer of /genai/annotations/delete.
type AnnotationDeleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (h *Handler) annotationsDelete(ctx context.Context, q *AnnotationDeleteRequest) (AnnotationDeleted, error) {
	if err := h.s.Store.DeleteAnnotation(ctx, q.ProjectID, q.ID); err != nil {
		return AnnotationDeleted{}, withField(err, "id")
	}
	return AnnotationDeleted{ID: q.ID, Deleted: true}, nil
}

// AnnotationsQueryRequest is the body of /genai/annotations/query.
// WithTarget adds each annotation's target_found: which annotations wait
// for a target still to come (or name none).
type AnnotationsQueryRequest struct {
	projectPart
	Refs       []string `json:"refs"`
	Kind       string   `json:"kind"`
	WithTarget bool     `json:"with_target"`
	pagePart
}

func (q *AnnotationsQueryRequest) validate() error {
	if len(q.Refs) > maxRefs {
		return invalid("refs", "at most %d refs, got %d", maxRefs, len(q.Refs))
	}
	for i := range q.Refs {
		var err error
		if q.Refs[i], err = CanonicalRef(fmt.Sprintf("refs[%d]", i), q.ProjectID, q.Refs[i]); err != nil {
			return err
		}
	}
	if q.Kind != "" && !kindRE.MatchString(q.Kind) {
		return invalid("kind", "kind must be a lowercase name (letters, digits, _ . -; at most 64), got %q", truncate(q.Kind, 80))
	}
	return q.pagePart.check(store.DefaultLimit)
}

// Annotations is the answer of /genai/annotations/query.
type Annotations struct {
	Annotations []Annotation `json:"annotations"`
	Limit       int          `json:"limit"`
	Offset      int          `json:"offset"`
}

func (h *Handler) annotationsQuery(ctx context.Context, q *AnnotationsQueryRequest) (Annotations, error) {
	as, err := h.s.Store.QueryAnnotations(ctx, store.AnnotationQuery{
		ProjectID: q.ProjectID,
		Refs:      q.Refs,
		Kind:      q.Kind,
		Limit:     q.Limit,
		Offset:    q.Offset,
	})
	if err != nil {
		return Annotations{}, err
	}
	out := make([]Annotation, len(as))
	for i, a := range as {
		out[i] = withURIs(a)
	}
	if q.WithTarget {
		if err := h.targetsFound(ctx, q.ProjectID, out); err != nil {
			return Annotations{}, err
		}
	}
	return Annotations{Annotations: out, Limit: q.Limit, Offset: q.Offset}, nil
}

// targetsFound sets target_found on each annotation: one lookup per
// distinct ref (targetFound), a few at a time.
func (h *Handler) targetsFound(ctx context.Context, project string, as []Annotation) error {
	var refs []string
	found := map[string]bool{}
	for _, a := range as {
		if _, ok := found[a.Ref]; !ok {
			found[a.Ref] = false
			refs = append(refs, a.Ref)
		}
	}
	got := make([]bool, len(refs))
	if err := inParallel(len(refs), func(i int) (err error) {
		got[i], err = h.targetFound(ctx, project, refs[i])
		return err
	}); err != nil {
		return err
	}
	for i, r := range refs {
		found[r] = got[i]
	}
	for i := range as {
		f := found[as[i].Ref]
		as[i].TargetFound = &f
	}
	return nil
}

// withField names the request field a store error is about.
func withField(err error, field string) error {
	e := errorFrom(err)
	if e.Field == "" && e.Code != CodeInternal {
		e.Field = field
	}
	return e
}
