package auth

import (
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaa-project-a"
	keyB = "bbbbbbbbbbbbbbbbbbbb-everything"
)

func testKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := New([]Key{
		{Name: "a", Key: keyA, Projects: []string{"acme/a", "acme/a2"}},
		{Name: "b", Key: keyB, Projects: []string{"*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		keys []Key
		want string
	}{
		{"short", []Key{{Key: "short", Projects: []string{"*"}}}, "at least 16"},
		{"whitespace", []Key{{Key: "aaaaaaaa bbbbbbbbbbb", Projects: []string{"*"}}}, "whitespace"},
		{"no_projects", []Key{{Key: keyA}}, "no projects"},
		{"empty_project", []Key{{Key: keyA, Projects: []string{" "}}}, "empty"},
		{"same_key_twice", []Key{{Key: keyA, Projects: []string{"*"}}, {Key: keyA, Projects: []string{"x/y"}}}, "same key"},
		{"same_name_twice", []Key{{Name: "n", Key: keyA, Projects: []string{"*"}}, {Name: "n", Key: keyB, Projects: []string{"*"}}}, "used twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got error %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), keyA) {
				t.Errorf("error %q reveals the key", err)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	keys := testKeys(t)
	tests := []struct {
		name    string
		keys    *Keys
		headers map[string]string
		basic   [2]string
		project string
		want    error
	}{
		{"open_without_key", nil, nil, [2]string{}, "any/project", nil},
		{"open_empty_set", &Keys{}, nil, [2]string{}, "any/project", nil},
		{"no_key", keys, nil, [2]string{}, "acme/a", ErrUnauthenticated},
		{"unknown_key", keys, map[string]string{"wandb-api-key": "cccccccccccccccccccccc"}, [2]string{}, "acme/a", ErrUnauthenticated},
		{"header_in_scope", keys, map[string]string{"wandb-api-key": keyA}, [2]string{}, "acme/a2", nil},
		{"header_other_project", keys, map[string]string{"wandb-api-key": keyA}, [2]string{}, "acme/b", ErrForbidden},
		{"bearer_in_scope", keys, map[string]string{"Authorization": "Bearer " + keyA}, [2]string{}, "acme/a", nil},
		{"bearer_lowercase_scheme", keys, map[string]string{"Authorization": "bearer " + keyA}, [2]string{}, "acme/a", nil},
		{"bearer_empty", keys, map[string]string{"Authorization": "Bearer "}, [2]string{}, "acme/a", ErrUnauthenticated},
		{"basic_password", keys, nil, [2]string{"api", keyA}, "acme/a", nil},
		{"wildcard", keys, map[string]string{"Authorization": "Bearer " + keyB}, [2]string{}, "whatever/else", nil},
		{"header_wins_over_bearer", keys, map[string]string{"wandb-api-key": keyA, "Authorization": "Bearer " + keyB}, [2]string{}, "other/p", ErrForbidden},
		{"prefix_of_key", keys, map[string]string{"wandb-api-key": keyA[:20]}, [2]string{}, "acme/a", ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/genai/spans/query", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if tt.basic[0] != "" {
				r.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			err := tt.keys.Authorize(r, tt.project)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Authorize: got %v, want %v", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), keyA) || strings.Contains(err.Error(), keyB)) {
				t.Errorf("error %q reveals a key", err)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Key
		wantErr string
	}{
		{"one", keyA + "=acme/a", []Key{{Name: "env #1", Key: keyA, Projects: []string{"acme/a"}}}, ""},
		{"two_with_spaces", " " + keyA + " = acme/a , acme/b ;\n" + keyB + "=*\n",
			[]Key{
				{Name: "env #1", Key: keyA, Projects: []string{"acme/a", "acme/b"}},
				{Name: "env #2", Key: keyB, Projects: []string{"*"}},
			}, ""},
		{"bare_key", keyA, nil, "entry 1"},
		{"no_projects", keyA + "=", nil, "entry 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnv(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEnv: got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Name != tt.want[i].Name || got[i].Key != tt.want[i].Key ||
					strings.Join(got[i].Projects, "|") != strings.Join(tt.want[i].Projects, "|") {
					t.Errorf("key %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{"ok", `{"keys":[{"name":"a","key":"` + keyA + `","projects":["*"]}]}`, 1, ""},
		{"unknown_field", `{"keys":[],"extra":1}`, 0, "unknown field"},
		{"trailing", `{"keys":[]} {}`, 0, "after the JSON"},
		{"no_keys", `{}`, 0, "no \"keys\""},
		{"not_json", `keys: []`, 0, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFile([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFile: got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseFile: got %d keys, %v; want %d keys", len(got), err, tt.want)
			}
		})
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(`{"keys":[{"name":"file","key":"`+keyA+`","projects":["acme/a"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := Load(path, keyB+"=*")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(k.Names(), ","); got != "env #1,file" {
		t.Errorf("names: got %q, want %q", got, "env #1,file")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json"), ""); err == nil {
		t.Error("Load of a missing file: got nil error, want one")
	}
	if k, err := Load("", ""); err != nil || k.Enabled() {
		t.Errorf("Load with nothing: got enabled=%v err=%v, want open and nil", k.Enabled(), err)
	}
}

func TestCheckListen(t *testing.T) {
	keys := testKeys(t)
	tests := []struct {
		name string
		keys *Keys
		addr string
		ok   bool
	}{
		{"open_ipv4_loopback", nil, "127.0.0.1:7433", true},
		{"open_other_127", nil, "127.0.0.2:7433", true},
		{"open_ipv6_loopback", nil, "[::1]:7433", true},
		{"open_localhost", nil, "localhost:7433", true},
		{"open_all_interfaces", nil, "0.0.0.0:7433", false},
		{"open_empty_host", nil, ":7433", false},
		{"open_lan_ip", nil, "192.168.1.10:7433", false},
		{"open_hostname", nil, "example.com:7433", false},
		{"open_no_port", nil, "127.0.0.1", false},
		{"keys_all_interfaces", keys, "0.0.0.0:7433", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.keys.CheckListen(tt.addr)
			if (err == nil) != tt.ok {
				t.Errorf("CheckListen(%q): got %v, want ok=%v", tt.addr, err, tt.ok)
			}
		})
	}
}

func TestCheckListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := (*Keys)(nil).CheckListener(ln); err != nil {
		t.Errorf("CheckListener(loopback): got %v, want nil", err)
	}
}

func TestRequestHostIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:7433", true},
		{"localhost:7433", true},
		{"LOCALHOST", true},
		{"app.localhost:1", true},
		{"[::1]:7433", true},
		{"localhost.", true},
		{"evil.example:7433", false},
		{"127.0.0.1.evil.example", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			if got := RequestHostIsLoopback(r); got != tt.want {
				t.Errorf("RequestHostIsLoopback(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	keys := testKeys(t)
	r := httptest.NewRequest("GET", "/genai/projects", nil)
	r.Header.Set("wandb-api-key", keyA)
	p, err := keys.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "a" || !p.Allows("acme/a") || p.Allows("acme/b") || p.Open() {
		t.Errorf("principal: got name=%q allows(a)=%v allows(b)=%v open=%v, want a true false false",
			p.Name, p.Allows("acme/a"), p.Allows("acme/b"), p.Open())
	}
}
