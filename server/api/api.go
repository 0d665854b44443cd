// Package api is weave-server's read API: POST endpoints under /genai/ that
// take a JSON body carrying project_id and answer JSON, plus GET
// /genai/projects. Spans are returned with the canonical column names of
// model.Span; turns and conversations as the chat views of server/chatview.
//
// Every error is one JSON envelope, {"error": {"code", "message",
// "field"}}, with the HTTP status given by the code in one table
// (statusByCode). Request bodies are decoded strictly: unknown fields, wrong
// types, a missing project_id, bad limits or times are a 400 naming the
// field; bodies past the size limit are a 413; a Content-Type other than
// application/json is a 415 (which also keeps a web page on another origin
// from posting to an open local server). The store's ErrInvalid is a 400,
// its ErrNotFound a 404.
//
// With API keys configured (server/auth), a request needs a key (401
// without) that is scoped to the project it names (403 otherwise).
// docs/API.md documents every endpoint with examples.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/store"
)

// Backend is the part of the store the API reads and writes.
type Backend interface {
	store.Reader
	store.Annotations
}

// Defaults.
const (
	DefaultMaxBodyBytes = 1 << 20 // API bodies are small; OTLP ingest has its own limit
	DefaultQueryTimeout = 30 * time.Second
	DefaultProject      = "local/default"
)

// Settings are the API's dependencies.
type Settings struct {
	Store Backend
	// Keys are the API keys; nil or empty means open (see server/auth).
	Keys *auth.Keys
	// DefaultProject is listed by /genai/projects even before it has data,
	// so the UI can open on it. Default "local/default".
	DefaultProject string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// QueryTimeout bounds each store call (default 30 s).
	QueryTimeout time.Duration
	Logger       *slog.Logger
	// OnDelete, when set, is told what each delete request deleted
	// (metrics).
	OnDelete func(store.Deleted)
}

// Handler serves the read API. Create it with New.
type Handler struct {
	s        Settings
	routes   map[string]route
	thumbsMu sync.Mutex // serializes thumbs upserts (upsertThumbs)
}

// route is one entry of the route table.
type route struct {
	method string
	serve  func(w http.ResponseWriter, r *http.Request) error
}

// New returns the API handler. It panics if Settings.Store is nil (a
// programming error in main).
func New(s Settings) *Handler {
	if s.Store == nil {
		panic("api: Settings.Store is nil")
	}
	if s.DefaultProject == "" {
		s.DefaultProject = DefaultProject
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.QueryTimeout <= 0 {
		s.QueryTimeout = DefaultQueryTimeout
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{s: s, routes: make(map[string]route)}
	h.register("/genai/spans/query", post(h, h.spansQuery))
	h.register("/genai/spans/aggregate", post(h, h.spansAggregate))
	h.register("/genai/spans/trace", post(h, h.spansTrace))
	h.register("/genai/spans/active", post(h, h.spansActive))
	h.register("/genai/traces/query", post(h, h.tracesQuery))
	h.register("/genai/traces/chat", post(h, h.traceChat))
	h.register("/genai/traces/delete", post(h, h.tracesDelete))
	h.register("/genai/conversations/query", post(h, h.conversationsQuery))
	h.register("/genai/conversations/chat", post(h, h.conversationChat))
	h.register("/genai/conversations/delete", post(h, h.conversationsDelete))
	h.register("/genai/agents/query", post(h, h.agentsQuery))
	h.register("/genai/agents/versions", post(h, h.agentVersions))
	h.register("/genai/agents/metrics", post(h, h.agentMetrics))
	h.register("/genai/metrics/list", post(h, h.metricsList))
	h.register("/genai/metrics/query", post(h, h.metricsQuery))
	h.register("/genai/messages/search", post(h, h.messagesSearch))
	h.register("/genai/annotations/upsert", post(h, h.annotationsUpsert))
	h.register("/genai/annotations/delete", post(h, h.annotationsDelete))
	h.register("/genai/annotations/query", post(h, h.annotationsQuery))
	h.register("/genai/export", route{method: http.MethodPost, serve: h.export})
	h.register("/genai/projects", route{method: http.MethodGet, serve: h.projects})
	return h
}

// register adds a route; a duplicate path is a programming error.
func (h *Handler) register(path string, r route) {
	if _, dup := h.routes[path]; dup {
		panic("api: route registered twice: " + path)
	}
	h.routes[path] = r
}

// Paths lists the routes, sorted (for mounting and for the docs test).
func (h *Handler) Paths() []string {
	out := make([]string, 0, len(h.routes))
	for p := range h.routes {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// ServeHTTP dispatches through the route table.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := h.routes[r.URL.Path]
	if !ok {
		h.writeError(w, r, &Error{Code: CodeNotFound, Message: "no API endpoint " + r.URL.Path + "; see docs/API.md"})
		return
	}
	if r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", rt.method)
		h.writeError(w, r, &Error{Code: CodeMethodNotAllowed, Message: r.URL.Path + " takes " + rt.method + ", not " + r.Method})
		return
	}
	if err := rt.serve(w, r); err != nil {
		h.writeError(w, r, errorFrom(err))
	}
}

// post adapts a typed endpoint: authenticate, decode and validate the body,
// check the key's project scope, run fn under the query timeout, answer
// JSON.
func post[Req any, PReq interface {
	*Req
	request
}, Resp any](h *Handler, fn func(ctx context.Context, req PReq) (Resp, error)) route {
	return route{method: http.MethodPost, serve: func(w http.ResponseWriter, r *http.Request) error {
		req, err := accept[Req, PReq](h, w, r)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.s.QueryTimeout)
		defer cancel()
		resp, err := fn(ctx, req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}}
}

// accept authenticates a POST, decodes and validates its body and checks
// the key's project scope.
func accept[Req any, PReq interface {
	*Req
	request
}](h *Handler, w http.ResponseWriter, r *http.Request) (PReq, error) {
	principal, err := h.s.Keys.Authenticate(r)
	if err != nil {
		return nil, err
	}
	req := PReq(new(Req))
	if err := decodeBody(w, r, h.s.MaxBodyBytes, req); err != nil {
		return nil, err
	}
	if err := validProjectID(req.project()); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if !principal.Allows(req.project()) {
		return nil, fmt.Errorf("%w: key %q may not access project %q", auth.ErrForbidden, principal.Name, req.project())
	}
	return req, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An error here means the client went away; nothing left to tell it.
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	status := StatusOf(e.Code)
	if status >= 500 && e.Code != CodeTimeout {
		h.s.Logger.Error("api request failed", "path", r.URL.Path, "code", e.Code, "err", e.err)
	}
	if e.Code == CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="weave"`)
	}
	writeJSON(w, status, envelope{Error: e})
}

// WriteError writes err as the API's error envelope with its status, for
// the other handlers of the server (health, UI) to answer the same way.
func WriteError(w http.ResponseWriter, code, message string) {
	writeJSON(w, StatusOf(code), envelope{Error: &Error{Code: code, Message: message}})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// projectsResponse is the answer of GET /genai/projects.
type projectsResponse struct {
	Projects       []string `json:"projects"`
	DefaultProject string   `json:"default_project"`
}

// projects lists the projects with data that the caller may read, and the
// default project (where spans without wandb.* attributes land).
func (h *Handler) projects(w http.ResponseWriter, r *http.Request) error {
	principal, err := h.s.Keys.Authenticate(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.s.QueryTimeout)
	defer cancel()
	all, err := h.s.Store.Projects(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(all, h.s.DefaultProject) {
		all = append(all, h.s.DefaultProject)
	}
	out := projectsResponse{Projects: []string{}}
	for _, p := range all {
		if principal.Allows(p) {
			out.Projects = append(out.Projects, p)
		}
	}
	slices.SortFunc(out.Projects, strings.Compare)
	if principal.Allows(h.s.DefaultProject) {
		out.DefaultProject = h.s.DefaultProject
	} else if len(out.Projects) > 0 {
		out.DefaultProject = out.Projects[0]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
