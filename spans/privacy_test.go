package spans

import (
	"encoding/json"
	"strings"
	"testing"
)

// Real-looking secrets (made up, in the providers' formats) must be
// redacted; look-alikes must survive unchanged.
func TestRedactSecrets(t *testing.T) {
	secrets := []struct{ name, in, kind, keep string }{
		{"anthropic key", "export ANTHROPIC=sk-ant-api03-Xq3vN8kLm2pQ7rT9wY4zB6cD1eF5gH0jK8lM3nP6qR9sT2uV5wX8yZ1aB4cD7eF0gH3jK6lM9nP2qR5sT8uV1wX4yZ7-AbCdEfAA", "anthropic_key", "export ANTHROPIC="},
		{"anthropic admin key", "key sk-ant-admin01-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh", "anthropic_key", "key "},
		{"openai project key", "OPENAI_KEY=sk-proj-4fJ2kL9mN0pQ1rS2tU3vW4xY5zA6bC7dE8fG9hI0jK1lM2nO3pQ4rS5tU6vW7xY8zT3BlbkFJ", "openai_key", "OPENAI_KEY="},
		{"openai legacy key", "client = OpenAI(api_key=\"sk-3xY7zA9bC1dE2fG4hI5jK6lM7nO8pQ9rS0tU1vW2xY3\")", "", "client = OpenAI("},
		{"github pat", "git clone https://ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s@github.com/x/y", "github_token", "git clone https://"},
		{"github fine-grained", "token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP", "github_token", "token "},
		{"aws access key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "aws_access_key", "aws_access_key_id = "},
		{"aws secret key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_key", "aws_secret_access_key="},
		{"google api key", "https://maps.googleapis.com/?key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key", "https://maps.googleapis.com/?key="},
		{"slack token", "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack_token", "SLACK="},
		{"stripe key", "stripe.api_key = 'sk_live_51HxYzAbCdEfGhIjKlMnOpQr'", "", "stripe."},
		{"hugging face", "HF_TOKEN hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "huggingface_token", "HF_TOKEN "},
		{"bearer header", "curl -H 'Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543abcdef12' https://api", "bearer_token", "curl -H 'Authorization: Bearer "},
		{"jwt", "cookie=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt", "cookie="},
		{"private key block", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b3xQ\nabc/def+ghi==\n-----END RSA PRIVATE KEY-----\nrest", "private_key", "key:\n"},
		{"openssh key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "private_key", ""},
		{"password assignment", "DB_URL set; password=hunter2horse", "credential_assignment", "DB_URL set; password="},
		{"json password", `{"user":"bob","password": "correct-horse-battery"}`, "credential_assignment", `{"user":"bob","password": "`},
		{"yaml token", "auth:\n  token: 9f8e7d6c5b4a", "credential_assignment", "auth:\n  token: "},
		{"url credentials", "postgres://admin:s3cr3tPass@db.internal:5432/app", "basic_auth_url", "postgres://admin:"},
		{"api_key env", "WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567", "credential_assignment", "WANDB_API_KEY="},
	}
	for _, tc := range secrets {
		t.Run(tc.name, func(t *testing.T) {
			r := redactor{}
			got := r.text(tc.in)
			if r.count == 0 || !strings.Contains(got, redactedMark) {
				t.Fatalf("text(%q) = %q, want a redaction", tc.in, got)
			}
			if tc.kind != "" && !strings.Contains(got, redactedMark+tc.kind+"]") {
				t.Errorf("text(%q) = %q, want kind %s", tc.in, got, tc.kind)
			}
			if !strings.HasPrefix(got, tc.keep) {
				t.Errorf("text(%q) = %q, want prefix %q kept", tc.in, got, tc.keep)
			}
			if again := r.text(got); again != got {
				t.Errorf("redacting twice changed %q to %q", got, again)
			}
		})
	}
	lookalikes := []string{
		"use sk-learn for the model, or scikit-learn",
		"risk-free-investment-strategy-2024-edition-final",
		"task-1234567890-abcdefghij-retry",
		"max_tokens=4096 and token_count = 12",
		"password: string",
		"def login(password: str, token: Optional[str] = None):",
		"token = get_token()",
		"password = os.environ['DB_PASSWORD']",
		"api_key: ${{ secrets.OPENAI_API_KEY }}",
		"token=$GITHUB_TOKEN",
		"password=<your password here>",
		"export PASSWORD_FILE=/run/secrets/db",
		"the Bearer of bad news",
		"commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
		"AKIA is the prefix AWS access keys use",
		"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
		"https://example.com/path?query=1",
		"uuid 3fa85f64-5717-4562-b3fc-2c963f66afa6",
		"eyJ is how base64 JSON starts",
		"ghp_short",
		"the secret to good code is tests",
	}
	for _, in := range lookalikes {
		r := redactor{}
		if got := r.text(in); got != in || r.count != 0 {
			t.Errorf("look-alike %q changed to %q", in, got)
		}
	}
}

func TestRedactJSONKeepsStructure(t *testing.T) {
	r := redactor{}
	in := json.RawMessage(`{"command":"curl -H \"Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543abcdef12\" x","n":1.50,"list":["password=swordfish99"]}`)
	out := r.json(in)
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("redacted JSON invalid: %v (%s)", err, out)
	}
	if strings.Contains(string(out), "8f14e45f") || strings.Contains(string(out), "swordfish99") {
		t.Errorf("secret survived: %s", out)
	}
	if r.count != 2 {
		t.Errorf("count = %d, want 2", r.count)
	}
	clean := json.RawMessage(`{"b":1,"a":"nothing to see"}`)
	if got := (&redactor{}).json(clean); string(got) != string(clean) {
		t.Errorf("clean JSON re-encoded: %s", got)
	}
	off := redactor{p: Privacy{NoRedact: true}}
	if got := off.text("password=hunter2horse"); got != "password=hunter2horse" {
		t.Errorf("NoRedact still redacted: %q", got)
	}
}

// FuzzRedactPrefilter: skipping the rules whose literals a text lacks
// changes nothing: the output and the count equal running every rule.
func FuzzRedactPrefilter(f *testing.F) {
	for _, s := range []string{
		"password=hunter2horse", "paſſword=hunter2horse", "TOKEN: abcdef123", "Authorization: BEARER abcdefghijklmnop1234",
		"AWS_SECRET_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s",
		"-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----", "postgres://admin:s3cr3tPass@db:5432/app",
		"sk-ant-api03-Xq3vN8kLm2pQ7rT9wY4zB6cD1eF5gH0jK8lM3nP6qR9sT2uV5wX8yZ1aB4cD7eF0gH3jK6lM9nP2qR5sT8uV1wX4yZ7-AbCdEfAA",
		"private_key: [REDACTED:private_key] secret = tops3cret", "nothing to see here",
		"DB_PASSWORD=Xk9mP2vLq7wR", `{"db_password": "p@ss w0rd"}`, "mysql -u root -pS3cret db", "curl -u admin:pw1234 x",
		"redis://:pw@cache:6379", "postgresql://app:p@ss@w0rd@db/x", "glpat-ZzSVXuctdej1zWmTyNI_", "Cookie: a=b; c=d",
		"kind: Secret\ndata:\n  password: cGFzcw==\n", `{"kind": "Secret", "data": {"k": "dg=="}}`, "--password Sup3rSecret",
		"<password>x1y2z3</password>", "machine h login u password p4ss", "ALTER USER a WITH PASSWORD 'p4ss'",
		"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n", "PrivateKey:  testRSAPrivateKey,",
		`\"apiKey\": \"a1b2c3d4\"`, "Authorization: Basic dXNlcjpwYXNzMTIz", "https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast, ref redactor
		got, want := fast.scan(s, false), ref.scan(s, true)
		if got != want || fast.count != ref.count {
			t.Errorf("scan(%q): prefiltered %q (%d), every rule %q (%d)", s, got, fast.count, want, ref.count)
		}
	})
}

// TestRedactMemo: a long text redacted from memory gives the same text and
// counts its redactions again, for every span that carries it.
func TestRedactMemo(t *testing.T) {
	long := strings.Repeat("a system prompt line\n", 40) + "password=hunter2horse\n"
	var first, second redactor
	a, b := first.text(long), second.text(long)
	if a != b || first.count != 1 || second.count != 1 || !strings.Contains(a, redactedMark+"credential_assignment]") {
		t.Fatalf("first %q (%d), second %q (%d)", a[len(a)-60:], first.count, b[len(b)-60:], second.count)
	}
	if _, ok := DefaultRedactor().memo.get(long); !ok {
		t.Error("a text of more than memoMin bytes was not remembered")
	}
}

// TestRedactorUserRules: the user's patterns are masked under their name
// (the first group that matched, or the whole match), allow-listed values
// are never masked, built-in rules included; the built-in Redactor is
// unaffected.
func TestRedactorUserRules(t *testing.T) {
	x, err := NewRedactor(RedactConfig{
		Patterns: []Pattern{
			{Name: "acme_token", Regex: `\bacme_[A-Za-z0-9]{24}\b`},
			{Name: "employee_id", Regex: `employee=(E\d{6})`},
		},
		Allow: []string{"sk_test_51DemoKeyFromTheDocsAAAAAAAAAAAA", "/dev-[a-z]+-password/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"pattern, whole match", "token acme_0123456789abcdefABCDEFGH here", "token [REDACTED:acme_token] here"},
		{"pattern, group", "GET /people?employee=E123456&x=1", "GET /people?employee=[REDACTED:employee_id]&x=1"},
		{"allowed literal beats a built-in", "STRIPE_KEY=sk_test_51DemoKeyFromTheDocsAAAAAAAAAAAA", "STRIPE_KEY=sk_test_51DemoKeyFromTheDocsAAAAAAAAAAAA"},
		{"allowed regex, whole value", "DB_PASSWORD=dev-local-password", "DB_PASSWORD=dev-local-password"},
		{"regex must match the whole value", "DB_PASSWORD=dev-local-password-2", "DB_PASSWORD=[REDACTED:credential_assignment]"},
		{"built-ins still apply", "DB_PASSWORD=prod-pass-1", "DB_PASSWORD=[REDACTED:credential_assignment]"},
		{"nothing to see", "employee=Bob", "employee=Bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := x.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	r := redactor{p: Privacy{Redactor: x}}
	if got := string(r.json(json.RawMessage(`{"api_key":"dev-test-password","id":"acme_0123456789abcdefABCDEFGH"}`))); got != `{"api_key":"dev-test-password","id":"[REDACTED:acme_token]"}` {
		t.Errorf("json: got %s", got)
	}
	if got := RedactText("STRIPE_KEY=sk_test_51DemoKeyFromTheDocsAAAAAAAAAAAA acme_0123456789abcdefABCDEFGH"); got != "STRIPE_KEY=[REDACTED:stripe_key] acme_0123456789abcdefABCDEFGH" {
		t.Errorf("the built-in rules changed: %q", got)
	}
	if got := (Privacy{Redactor: x, NoRedact: true}).Redact("acme_0123456789abcdefABCDEFGH"); got != "acme_0123456789abcdefABCDEFGH" {
		t.Errorf("NoRedact: got %q", got)
	}
}

// TestNewRedactorErrors: each bad entry is an error that names it.
func TestNewRedactorErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    RedactConfig
		want string
	}{
		{"bad regex", RedactConfig{Patterns: []Pattern{{Name: "a", Regex: "x+"}, {Name: "b", Regex: "acme_[A-Z"}}}, `redact.patterns[1] (b): regex "acme_[A-Z": error parsing regexp`},
		{"empty regex", RedactConfig{Patterns: []Pattern{{Name: "a"}}}, "redact.patterns[0] (a): regex is empty"},
		{"matches nothing but the empty string", RedactConfig{Patterns: []Pattern{{Name: "a", Regex: "x*"}}}, `redact.patterns[0] (a): regex "x*" matches the empty string`},
		{"bad name", RedactConfig{Patterns: []Pattern{{Name: "a]b", Regex: "x+"}}}, `redact.patterns[0]: name "a]b"`},
		{"no name", RedactConfig{Patterns: []Pattern{{Regex: "x+"}}}, `redact.patterns[0]: name ""`},
		{"bad allow regex", RedactConfig{Allow: []string{"ok", "/(x/"}}, "redact.allow[1]: regex /(x/"},
		{"empty allow entry", RedactConfig{Allow: []string{""}}, "redact.allow[0]: empty entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRedactor(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewRedactor: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRedactJSONFields: in tool arguments, a member whose key names a
// credential loses its whole string value, and a header member is redacted
// as the header line; references and other members stay.
func TestRedactJSONFields(t *testing.T) {
	in := `{"password":"hunter2horse","headers":{"X-Api-Key":"abc123def456","Authorization":"5f0c7a9e2b8d4c1f6e3a7b9d2c8e4f1a","Cookie":"sid=q8w7e6r5t4"},"token":"$TOKEN","max_tokens":100,"note":"password: see vault"}`
	want := `{"headers":{"Authorization":"[REDACTED:authorization]","Cookie":"sid=[REDACTED:cookie]","X-Api-Key":"[REDACTED:credential_assignment]"},"max_tokens":100,"note":"password: see vault","password":"[REDACTED:credential_assignment]","token":"$TOKEN"}`
	r := redactor{}
	if got := string(r.json(json.RawMessage(in))); got != want {
		t.Errorf("json:\n got %s\nwant %s", got, want)
	}
	if r.count != 4 {
		t.Errorf("count = %d, want 4", r.count)
	}
}

// FuzzRedactIdempotent: redacting what was redacted changes nothing (a
// span rebuilt from redacted text, the marks themselves), and no input
// makes a rule panic.
func FuzzRedactIdempotent(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var first, second redactor
		once := first.scan(s, false)
		if twice := second.scan(once, false); twice != once || second.count != 0 {
			t.Errorf("scan(%q) = %q, then %q (%d more)", s, once, twice, second.count)
		}
	})
}

// TestRulesSkipAhead keeps redaction off the slow path. A built-in rule's
// regular expression starts with a literal (the regexp package jumps from
// one occurrence to the next), or runs only on the lines holding one of its
// literals, and those literals are rare in what agents read and write:
// "user|role\b[^\n;]*?password" run on every line saying "user" made
// redaction ten times slower.
func TestRulesSkipAhead(t *testing.T) {
	texts := transcriptStrings(t)
	for i, r := range builtinRules {
		if len(r.need) == 0 {
			t.Errorf("rule %d (%s): no literals to skip texts with", i, r.kind)
		}
		if r.fn != nil {
			continue
		}
		if !r.line {
			if prefix, _ := r.re.LiteralPrefix(); prefix == "" {
				t.Errorf("rule %d (%s) %q: no literal prefix; start it with a literal or run it per line", i, r.kind, r.re)
			}
			continue
		}
		holding := 0
		for _, s := range texts {
			low := asciiLower(s)
			for _, n := range r.need {
				if strings.Contains(low, n) {
					holding++
					break
				}
			}
		}
		if share := float64(holding) / float64(len(texts)); share > 0.02 {
			t.Errorf("rule %d (%s): %.1f%% of the recorded texts hold one of %q: want rarer literals", i, r.kind, 100*share, r.need)
		}
	}
}

// TestUserPatternSparesMarks: a user pattern that matches the marks'
// own text (REDACTED, a kind name) leaves the marks alone.
func TestUserPatternSparesMarks(t *testing.T) {
	x, err := NewRedactor(RedactConfig{Patterns: []Pattern{
		{Name: "acme", Regex: `acme_[0-9]{6}`},
		{Name: "caps", Regex: `\b[A-Z]{8}\b`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := "id acme_123456 and DB_PASSWORD=Xk9mP2vLq7wR and ABCDEFGH"
	want := "id [REDACTED:acme] and DB_PASSWORD=[REDACTED:credential_assignment] and [REDACTED:caps]"
	if got := x.Redact(in); got != want {
		t.Errorf("Redact(%q) = %q, want %q", in, got, want)
	}
}
