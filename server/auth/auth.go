// Package auth decides who may read and write which project on weave-server.
//
// With no API keys configured the server is open, and must then listen on a
// loopback address only ([CheckListen], [CheckListener]) and answer only
// requests addressed to a loopback host name ([LoopbackHost], which stops a
// web page from reaching the open server through DNS rebinding). With keys
// configured (a JSON file and/or the WEAVE_API_KEYS environment variable),
// every ingest and read request needs one, sent as the `wandb-api-key`
// header, `Authorization: Bearer <key>`, or the password of
// `Authorization: Basic` (as `curl -u api:<key>` sends it). Each key is
// scoped to a list of projects, or to all of them with "*".
//
// Keys are compared in constant time: the presented key is hashed and the
// digest compared with every configured key's digest, without stopping at the
// first match.
package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"unicode"
)

// ErrUnauthenticated is returned when keys are configured and the request
// carries none, or an unknown one (HTTP 401).
var ErrUnauthenticated = errors.New("auth: missing or unknown API key")

// ErrForbidden is returned when the request's key is valid but not scoped to
// the project it asks for (HTTP 403).
var ErrForbidden = errors.New("auth: API key not allowed for this project")

// EnvVar is the environment variable holding keys.
const EnvVar = "WEAVE_API_KEYS"

// HeaderAPIKey is the header W&B clients send their key in.
const HeaderAPIKey = "wandb-api-key"

// MinKeyLength is the shortest key accepted.
const MinKeyLength = 16

// AllProjects is the project scope that allows every project.
const AllProjects = "*"

// Key is one configured key, as written in the keys file.
type Key struct {
	// Name identifies the key in logs and errors; the key itself never
	// appears in either.
	Name     string   `json:"name"`
	Key      string   `json:"key"`
	Projects []string `json:"projects"`
}

// File is the JSON form of the keys file:
//
//	{"keys": [{"name": "ci", "key": "…", "projects": ["local/default"]},
//	          {"name": "admin", "key": "…", "projects": ["*"]}]}
type File struct {
	Keys []Key `json:"keys"`
}

// Keys is the set of configured keys. A nil or empty Keys is open: it
// authorizes everything. Safe for concurrent use (it is immutable).
type Keys struct {
	entries []entry
}

type entry struct {
	name     string
	sum      [sha256.Size]byte
	all      bool
	projects map[string]bool
}

// Principal is the holder of a valid key, or anyone when auth is off.
type Principal struct {
	Name     string // "" when auth is off
	open     bool
	all      bool
	projects map[string]bool
}

// Allows reports whether the principal may access project.
func (p Principal) Allows(project string) bool {
	return p.open || p.all || p.projects[project]
}

// Open reports whether no keys are configured.
func (p Principal) Open() bool { return p.open }

// New validates keys and returns the set. An empty list gives an open set.
func New(keys []Key) (*Keys, error) {
	k := &Keys{}
	seen := make(map[[sha256.Size]byte]string)
	names := make(map[string]bool)
	for i, key := range keys {
		name := key.Name
		if name == "" {
			name = fmt.Sprintf("key #%d", i+1)
		}
		if names[name] {
			return nil, fmt.Errorf("auth: key name %q used twice", name)
		}
		names[name] = true
		if len(key.Key) < MinKeyLength {
			return nil, fmt.Errorf("auth: key %q is %d characters, want at least %d", name, len(key.Key), MinKeyLength)
		}
		if strings.IndexFunc(key.Key, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			return nil, fmt.Errorf("auth: key %q contains whitespace or control characters", name)
		}
		if len(key.Projects) == 0 {
			return nil, fmt.Errorf("auth: key %q has no projects (use [%q] for all projects)", name, AllProjects)
		}
		e := entry{name: name, sum: sha256.Sum256([]byte(key.Key)), projects: make(map[string]bool)}
		for _, p := range key.Projects {
			switch {
			case p == AllProjects:
				e.all = true
			case strings.TrimSpace(p) == "" || p != strings.TrimSpace(p):
				return nil, fmt.Errorf("auth: key %q: project %q is empty or has surrounding spaces", name, p)
			default:
				e.projects[p] = true
			}
		}
		if other, ok := seen[e.sum]; ok {
			return nil, fmt.Errorf("auth: keys %q and %q are the same key", other, name)
		}
		seen[e.sum] = name
		k.entries = append(k.entries, e)
	}
	return k, nil
}

// Load reads keys from the JSON file at path (skipped when path is "") and
// from env, the value of WEAVE_API_KEYS (skipped when ""), and returns them
// together. env holds entries separated by ";" or newlines, each
// "<key>=<project>[,<project>...]", e.g. "k1…=local/default;k2…=*".
func Load(path, env string) (*Keys, error) {
	var all []Key
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: read keys file: %w", err)
		}
		keys, err := ParseFile(data)
		if err != nil {
			return nil, fmt.Errorf("auth: keys file %s: %w", path, err)
		}
		all = append(all, keys...)
	}
	if env != "" {
		keys, err := ParseEnv(env)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", EnvVar, err)
		}
		all = append(all, keys...)
	}
	return New(all)
}

// ParseFile decodes the keys file (see File). Unknown fields are errors.
func ParseFile(data []byte) ([]Key, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode: data after the JSON object")
	}
	if f.Keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	return f.Keys, nil
}

// ParseEnv decodes the WEAVE_API_KEYS form. Keys are named "env #1", "env #2"…
func ParseEnv(s string) ([]Key, error) {
	var out []Key
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n := len(out) + 1
		key, projects, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(projects) == "" {
			return nil, fmt.Errorf("entry %d: want <key>=<project>[,<project>...] (use <key>=* for all projects)", n)
		}
		var ps []string
		for _, p := range strings.Split(projects, ",") {
			if p = strings.TrimSpace(p); p != "" {
				ps = append(ps, p)
			}
		}
		out = append(out, Key{Name: fmt.Sprintf("env #%d", n), Key: strings.TrimSpace(key), Projects: ps})
	}
	return out, nil
}

// Enabled reports whether any key is configured.
func (k *Keys) Enabled() bool { return k != nil && len(k.entries) > 0 }

// Len returns the number of configured keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entries)
}

// Authenticate returns the principal of the request's key. With auth off
// every request is an open principal. Errors wrap ErrUnauthenticated.
func (k *Keys) Authenticate(r *http.Request) (Principal, error) {
	if !k.Enabled() {
		return Principal{open: true}, nil
	}
	presented, ok := FromRequest(r)
	if !ok {
		return Principal{}, fmt.Errorf("%w: send it as the %s header or Authorization: Bearer <key>", ErrUnauthenticated, HeaderAPIKey)
	}
	sum := sha256.Sum256([]byte(presented))
	match := -1
	for i := range k.entries {
		// No early exit: the time taken does not depend on which key matched.
		if subtle.ConstantTimeCompare(sum[:], k.entries[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Principal{}, fmt.Errorf("%w: the key is not one of the configured keys", ErrUnauthenticated)
	}
	e := &k.entries[match]
	return Principal{Name: e.name, all: e.all, projects: e.projects}, nil
}

// Authorize returns nil when the request may access projectID: auth is off,
// or its key is scoped to the project. Errors wrap ErrUnauthenticated or
// ErrForbidden. It is the check ingest and the read API both use.
func (k *Keys) Authorize(r *http.Request, projectID string) error {
	p, err := k.Authenticate(r)
	if err != nil {
		return err
	}
	if !p.Allows(projectID) {
		return fmt.Errorf("%w: key %q may not access project %q", ErrForbidden, p.Name, projectID)
	}
	return nil
}

// FromRequest returns the key a request presents: the wandb-api-key header,
// else an Authorization Bearer token, else the password of Authorization
// Basic.
func FromRequest(r *http.Request) (string, bool) {
	if v := strings.TrimSpace(r.Header.Get(HeaderAPIKey)); v != "" {
		return v, true
	}
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		if token = strings.TrimSpace(token); token != "" {
			return token, true
		}
	}
	if _, pw, ok := r.BasicAuth(); ok && pw != "" {
		return pw, true
	}
	return "", false
}

// CheckListen refuses an open server (no keys) on an address that is not a
// loopback address. addr is a host:port as given to --addr.
func (k *Keys) CheckListen(addr string) error {
	if k.Enabled() {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("auth: listen address %q: %w", addr, err)
	}
	if !LoopbackHost(host) {
		return fmt.Errorf("auth: refusing to serve %q without API keys: an open server listens on loopback only "+
			"(127.0.0.1, ::1 or localhost); configure keys with --api-keys-file or %s to listen on other addresses", addr, EnvVar)
	}
	return nil
}

// CheckListener checks the address a listener actually bound, as
// CheckListen does (a host name can resolve to a non-loopback address).
func (k *Keys) CheckListener(ln net.Listener) error {
	if k.Enabled() {
		return nil
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return nil // a Unix socket is local by nature
	}
	if !tcp.IP.IsLoopback() {
		return fmt.Errorf("auth: refusing to serve on %s without API keys: it is not a loopback address; "+
			"configure keys with --api-keys-file or %s", tcp, EnvVar)
	}
	return nil
}

// LoopbackHost reports whether host (a name or an IP, without port) names
// this machine's loopback interface: localhost, *.localhost, 127.0.0.0/8 or
// ::1.
func LoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequestHostIsLoopback reports whether the Host a request was addressed to
// is a loopback name or address. An open server answers only those, so a web
// page on another origin cannot reach it by pointing a DNS name at 127.0.0.1.
func RequestHostIsLoopback(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return LoopbackHost(host)
}

// Names lists the configured key names, sorted (for the start-up log).
func (k *Keys) Names() []string {
	if k == nil {
		return nil
	}
	out := make([]string, 0, len(k.entries))
	for _, e := range k.entries {
		out = append(out, e.name)
	}
	slices.Sort(out)
	return out
}
