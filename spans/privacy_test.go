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
