package spans

import (
	"regexp"
	"strings"
)

// Credential assignments: a key that names a credential (DB_PASSWORD,
// client_secret, X-Api-Key, --token, <password>) and the value given to it.
// The key stays, the value goes. The scanner reads every identifier that
// holds one of assignmentNeed, then what follows it: a separator (=, :, :=,
// =>), a flag's space, an XML element; then the value, quoted or not.

const kindAssignment = "credential_assignment"

var assignmentNeed = []string{"pass", "pwd", "secret", "token", "key", "auth"}

// keyClass is what a key says its value is.
type keyClass uint8

const (
	notKey      keyClass = iota
	passwordKey          // password, passwd, passphrase, pwd, pass
	secretKey            // secret, token, api key, private key...
	weakKey              // auth (docker config, .npmrc): only random-looking values
)

func isIdentByte(c byte) bool { return isWordByte(c) || c == '-' || c == '.' }

func isQuote(c byte) bool { return c == '"' || c == '\'' || c == '`' }

func hasAnchor(lowID string) bool {
	for _, a := range assignmentNeed {
		if strings.Contains(lowID, a) {
			return true
		}
	}
	return false
}

// scanAssignments is the credential_assignment rule's finder.
func scanAssignments(s, low string, emit func(start, end int)) {
	ls := 0 // start of the current line
	for i := 0; i < len(s); {
		if !isIdentByte(s[i]) {
			if s[i] == '\n' {
				ls = i + 1
			}
			i++
			continue
		}
		start := i
		for i < len(s) && isIdentByte(s[i]) {
			i++
		}
		if !mayAssign(s, start, i) || !hasAnchor(low[start:i]) {
			continue
		}
		if vs, ve, ok := assignment(s, ls, start, i); ok {
			emit(vs, ve)
			if ve > i {
				i = ve
				if nl := strings.LastIndexByte(s[start:ve], '\n'); nl >= 0 {
					ls = start + nl + 1
				}
			}
		}
	}
}

// mayAssign is a quick look at what follows the identifier s[start:end]:
// a separator, a closing quote or tag, or a space after a flag or an ENV.
func mayAssign(s string, start, end int) bool {
	p := end
	for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
		p++
	}
	if p == len(s) {
		return false
	}
	switch s[p] {
	case '=', ':', '>', '"', '\'', '`', '\\', ']':
		return true
	case '\n', '\r':
		return false
	}
	return p > end && (s[start] == '-' || start >= 4 && (s[start-4:start] == "ENV " || s[start-4:start] == "ARG "))
}

// maxValue bounds the scan for a value's end (a closing quote, the end of
// a line): what is longer is no credential, and a text full of keys must
// not cost quadratic time.
const maxValue = 4096

// assignment reads the identifier s[start:end] (on the line starting at
// ls) as a key and returns the range of the secret value assigned to it.
func assignment(s string, ls, start, end int) (vs, ve int, ok bool) {
	k, ok := readKey(s, ls, start, end)
	if !ok || !k.readSeparator() {
		return 0, 0, false
	}
	cls := classifyKey(k.key)
	if cls == notKey {
		return 0, 0, false
	}
	p := skipBlanks(s, k.p)
	if p >= len(s) || s[p] == '\n' || s[p] == '\r' {
		return 0, 0, false
	}
	a, ok := k.value(p)
	if !ok || valueIsNotSecret(k.key, s[a.vs:a.ve], cls, a.quoted, k.flag) || inCode(a) {
		return 0, 0, false
	}
	return a.vs, a.ve, true
}

// restOfLine returns the end of the value that starts at s[p] and runs
// to the end of the line, a trailing comment, comma or semicolon aside.
func restOfLine(s string, p int) int {
	ve := valueEnd(s, p, "\r\n")
	if c := strings.Index(s[p:ve], " #"); c >= 0 {
		ve = p + c
	}
	for ve > p && strings.IndexByte(" \t,;", s[ve-1]) >= 0 {
		ve--
	}
	return ve
}

// skipBlanks returns the index of the first byte from s[p] on that is not
// a space or a tab.
func skipBlanks(s string, p int) int {
	for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
		p++
	}
	return p
}

// assignKey is an identifier read as a key: how it is quoted, what
// precedes it on its line, and how it is separated from its value.
type assignKey struct {
	s         string
	key       string // the identifier without its dashes and trailing . or -
	k1        int    // the end of key
	kstart    int    // where the key starts, its opening quote included
	flag      bool   // one or two dashes, after a space or at the start
	q         byte   // the key's opening quote ("key", 'key', \"key\"), or 0
	escQ      bool   // q is an escaped \"
	closed    bool   // the key's quote closes right after it
	xml       bool   // an XML tag: <key>
	prefix    string // what precedes the key on its line (linePrefix)
	lineStart bool   // the key starts its line (after -, export, set or #)
	spaced    bool   // a space before the separator (x.y = z)
	sep       byte   // '>' (XML), 'd' (:=), '=' (= or =>), ':', ' ' (flag or ENV value)
	p         int    // just past the separator
}

// readKey reads the identifier s[start:end] as a key; false when it is
// only dashes and dots.
func readKey(s string, ls, start, end int) (k assignKey, ok bool) {
	dashes := 0
	for start+dashes < end && s[start+dashes] == '-' {
		dashes++
	}
	k0, k1 := start+dashes, end
	for k1 > k0 && (s[k1-1] == '.' || s[k1-1] == '-') {
		k1--
	}
	if k1 <= k0 {
		return k, false
	}
	k = assignKey{s: s, key: s[k0:k1], k1: k1, kstart: start}
	k.flag = dashes > 0 && dashes <= 2 && (start == 0 || s[start-1] == ' ' || s[start-1] == '\t')
	if start > 0 && isQuote(s[start-1]) {
		k.q, k.kstart = s[start-1], start-1
		if start > 1 && s[start-2] == '\\' && k.q == '"' {
			k.escQ, k.kstart = true, start-2
		}
	}
	k.xml = start > 0 && s[start-1] == '<'
	k.prefix = linePrefix(s, ls, k.kstart)
	k.lineStart = k.prefix == "" || k.prefix == "-" || k.prefix == "export" || k.prefix == "set" || k.prefix == "#"
	return k, true
}

// readSeparator reads what follows the key: its closing quote, blanks and
// the separator; false when there is no separator (or a comparison, a
// path).
func (k *assignKey) readSeparator() bool {
	s, p := k.s, k.k1
	switch {
	case k.q != 0 && k.escQ && strings.HasPrefix(s[p:], `\"`):
		p, k.closed = p+2, true
	case k.q != 0 && !k.escQ && p < len(s) && s[p] == k.q:
		p, k.closed = p+1, true
	}
	if k.closed && p < len(s) && s[p] == ']' { // os.environ["KEY"] = ...
		p++
	}
	sp := p
	p = skipBlanks(s, p)
	k.spaced = p > sp
	k.p, k.sep = k.separator(p)
	return k.sep != 0
}

// separator reads the separator at s[p] and returns where it ends and
// what it is (see assignKey.sep), sep 0 when there is none.
func (k *assignKey) separator(p int) (end int, sep byte) {
	s := k.s
	switch {
	case k.xml:
		if p != k.k1 || p >= len(s) || s[p] != '>' {
			return p, 0
		}
		return p + 1, '>'
	case strings.HasPrefix(s[p:], ":="):
		return p + 2, 'd' // a Go declaration: an unquoted value is code
	case strings.HasPrefix(s[p:], "=>"):
		return p + 2, '='
	case p < len(s) && s[p] == '=':
		if p+1 < len(s) && (s[p+1] == '=' || s[p+1] == '~') {
			return p, 0 // a comparison
		}
		return p + 1, '='
	case p < len(s) && s[p] == ':':
		if p+1 < len(s) && s[p+1] == ':' {
			return p, 0 // a path (env::var)
		}
		return p + 1, ':'
	case k.spaced && (k.flag || k.prefix == "ENV" || k.prefix == "ARG") && p < len(s) && s[p] != '\n' && s[p] != '\r':
		return p, ' ' // --password X, Dockerfile ENV KEY value
	}
	return p, 0
}

// value finds the value that starts at s[p] (past the separator and
// blanks): its range, and whether it is quoted or the rest of the line;
// false when there is none after all.
func (k *assignKey) value(p int) (a site, ok bool) {
	s := k.s
	a = site{s: s, key: k.key, kstart: k.kstart, p: p, sep: k.sep, lineStart: k.lineStart, spaced: k.spaced}
	switch {
	case k.sep == '>':
		a.vs, a.ve = p, valueEnd(s, p, "<\n")
		if !strings.HasPrefix(s[a.ve:], "</") { // <password>value</password>
			return a, false
		}
	case k.q != 0 && !k.closed && s[p] == k.q:
		return a, false // "token:" closes a string: no value
	case isQuote(s[p]) || (s[p] == '\\' && strings.HasPrefix(s[p:], `\"`)):
		a.quoted = true
		a.vs, a.ve = quotedValue(s, p)
		if a.ve >= len(s) || s[a.ve] == '\n' || a.ve-a.vs >= maxValue {
			return a, false // no closing quote: the quote closed an enclosing string
		}
	case k.sep == ':' && k.lineStart && !k.flag && k.q == 0:
		// YAML and header lines: the rest of the line.
		a.vs, a.ve, a.rest = p, restOfLine(s, p), true
	case k.sep == '=' && k.lineStart && !k.spaced && !k.flag, k.sep == ' ' && !k.flag:
		// KEY=value at the start of a line (.env, shell), ENV KEY value:
		// up to the next space.
		a.vs, a.ve = p, valueEnd(s, p, " \t\r\n")
	default:
		a.vs, a.ve = p, valueEnd(s, p, " \t\r\n\"'`,;){}]&<\\")
		if k.q != 0 && !k.closed { // "Password: x" inside a string
			if i := strings.IndexByte(s[a.vs:a.ve], k.q); i >= 0 {
				a.ve = a.vs + i
			}
		}
	}
	return a, true
}

// site is where an assignment was found: the text, the key, where the key
// (with its opening quote) starts, where the value was looked for and
// found, and how they are separated.
type site struct {
	s, key            string
	kstart, p, vs, ve int
	sep               byte
	quoted, lineStart bool
	spaced            bool // a space before the separator (x.y = z)
	rest              bool // the value is the rest of the line (key: value)
}

// inCode reports assignments the surrounding text shows are code or prose:
// "First pass: assign…", "bad token: got %v", "groupname:password:GID",
// Token = "//go:" + text, pwd: cwd, PrivateKey: testRSAPrivateKey,
// Secret: Bug4Secret{1}, state.secret = psk.
//
// long: one case per false-positive shape, each with its example; a table
// of independent rules reads best as one switch.
func inCode(a site) bool {
	s, v := a.s, a.s[a.vs:a.ve]
	after := ""
	if qe := a.ve + 1; a.quoted && qe < len(s) {
		after = strings.TrimLeft(s[qe:], " \t")
	} else if !a.quoted {
		after = s[a.ve:]
	}
	lowerKey := strings.ToLower(a.key)
	switch {
	case a.quoted && strings.HasPrefix(after, "+"):
		return true // a fragment of a longer string
	case !a.quoted && identDigitsRe.MatchString(v) && (a.sep == 'd' || codeValue(a, v, after)):
		return true
	case a.rest && identDigitsRe.MatchString(v) && strings.HasPrefix(after, ","):
		return true // Token: next, (a struct literal line)
	case a.rest && codeValue(a, leadingIdent(v), s[a.vs+len(leadingIdent(v)):]):
		return true // Secret: Bug4Secret{1}, (a struct literal, not YAML)
	case a.sep == ':' && !a.quoted && !a.lineStart && isWord(v) &&
		(strings.HasPrefix(after, " ") || strings.HasPrefix(after, ", ") || strings.HasPrefix(after, ". ")):
		return true // "error: got …", "EncodeToken: Unable to …", "ends a token: whitespace, or …"
	case a.quoted && len(v) > 3 && isEnvName(v) && namesCredential(v):
		return true // EnvAPIKey: "ANTHROPIC_API_KEY" names a variable
	case a.sep == ':' && a.kstart > 0 && s[a.kstart-1] == ':' && a.vs == a.p:
		return true // colon-separated fields (user:password:uid)
	case a.key == "pass" && a.sep == ':' && !a.quoted && !a.lineStart && !isQuote(s[a.kstart]):
		return true // "Second pass: …"
	case a.key == "pass" && v[0] >= '0' && v[0] <= '9' && allDigits(strings.TrimRight(strings.Fields(v)[0], ",;")):
		return true // a test count (pass: 12, fail: 0)
	case lowerKey == "pwd" || strings.HasSuffix(lowerKey, ".pwd"):
		// PWD is the working directory; Pwd= is a password in connection
		// strings (Uid=me;Pwd=…;) and query strings.
		prev := byte(0)
		if a.kstart > 0 {
			prev = s[a.kstart-1]
		}
		return !(strings.IndexByte(";&?", prev) >= 0 || strings.HasPrefix(s[a.ve:], ";"))
	}
	return false
}

// codeValue reports an unquoted identifier that the code around it shows
// is a variable or a type: a call or a composite literal (x(, T{), a
// field or an argument that names a credential or is camelCase
// (PrivateKey: testRSAPrivateKey,), a member assignment (x.secret = psk), a
// declaration (var key = k1).
//
// long: a list of independent code shapes, each one test; a table by
// nature.
func codeValue(a site, v, after string) bool {
	if v == "" {
		return false
	}
	if after != "" && (after[0] == '(' || after[0] == '{') {
		return true
	}
	if len(after) > 1 && after[0] == '.' && (after[1] == '_' || after[1] >= 'A' && after[1] <= 'Z' || after[1] >= 'a' && after[1] <= 'z') {
		return true // pkg.Type{, x.y.Method(
	}
	variable := namesCredential(v) || hasHump(v)
	if after != "" && strings.IndexByte(",);}", after[0]) >= 0 && variable {
		return true
	}
	if after != "" && (after[0] == ')' || after[0] == '}') && !strings.ContainsAny(v, "0123456789") {
		return true // f(token=tok), T{Token: alice}
	}
	member := a.key[0] == '.' || a.kstart > 0 && a.s[a.kstart-1] == '.' || strings.Contains(a.key, ".") && a.spaced
	if member && (variable || !strings.ContainsAny(v, "0123456789")) {
		return true
	}
	ls := max(0, a.kstart-64)
	ls += strings.LastIndexByte(a.s[ls:a.kstart], '\n') + 1
	first, _, _ := strings.Cut(strings.TrimSpace(a.s[ls:a.kstart]), " ")
	switch first {
	case "var", "let", "const", "val", "auto", "final", "private", "public", "static":
		return true
	}
	return false
}

// leadingIdent is the identifier v starts with.
func leadingIdent(v string) string {
	i := 0
	for i < len(v) && (isWordByte(v[i]) && (i > 0 || v[i] < '0' || v[i] > '9')) {
		i++
	}
	return v[:i]
}

// hasHump: a lower-case letter followed by an upper-case one (camelCase).
func hasHump(v string) bool {
	for i := 1; i < len(v); i++ {
		if v[i-1] >= 'a' && v[i-1] <= 'z' && v[i] >= 'A' && v[i] <= 'Z' {
			return true
		}
	}
	return false
}

// isWord: letters only.
func isWord(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return v != ""
}

// linePrefix is what precedes position i on its line (starting at ls),
// trimmed; "…" when long (it is only compared with short words).
func linePrefix(s string, ls, i int) string {
	if i-ls > 64 {
		return "…"
	}
	return strings.TrimSpace(s[ls:i])
}

// quotedValue returns the inside of the quoted string at s[p]: up to the
// closing quote (backslash escapes honored in "..."), or the end of the
// line.
func quotedValue(s string, p int) (vs, ve int) {
	lim := min(len(s), p+maxValue)
	if s[p] == '\\' { // \"value\" inside an encoded string
		vs = p + 2
		for ve = vs; ve < lim && s[ve] != '\n' && !strings.HasPrefix(s[ve:], `\"`); ve++ {
		}
		return vs, min(ve, lim)
	}
	q := s[p]
	vs = p + 1
	for ve = vs; ve < lim && s[ve] != q && s[ve] != '\n'; ve++ {
		if s[ve] == '\\' && q == '"' {
			ve++
		}
	}
	return vs, min(ve, lim)
}

// valueEnd returns the index of the first byte from s[p] on that is in
// stop, at most maxValue bytes on, or the end of s.
func valueEnd(s string, p int, stop string) int {
	lim := min(len(s), p+maxValue)
	for i := p; i < lim; i++ {
		if strings.IndexByte(stop, s[i]) >= 0 {
			return i
		}
	}
	return lim
}

// splitWords splits an identifier into lower-case words at _, -, ., space
// and camelCase humps: keyStorePassword → key store password, XApiKey →
// x api key, PGPASSWORD → pgpassword.
func splitWords(id string) []string {
	var words []string
	w := make([]byte, 0, len(id))
	flush := func() {
		if len(w) > 0 {
			words = append(words, string(w))
			w = w[:0]
		}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			flush()
			continue
		case c >= 'A' && c <= 'Z':
			if i > 0 {
				prev := id[i-1]
				lowerPrev := prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9'
				upperRun := prev >= 'A' && prev <= 'Z' && i+1 < len(id) && id[i+1] >= 'a' && id[i+1] <= 'z'
				if lowerPrev || upperRun {
					flush()
				}
			}
			c += 'a' - 'A'
		}
		w = append(w, c)
	}
	flush()
	return words
}

var (
	passwordWords = set("password", "passwd", "passphrase", "passcode", "pwd", "pass",
		"storepass", "keypass", "srcstorepass", "deststorepass", "srckeypass", "destkeypass")
	// Words before "password" that make the key a setting, not a password.
	passwordDeny = set("is", "has", "use", "show", "hide", "no", "forgot", "require", "requires",
		"allow", "enable", "disable", "min", "max", "check", "validate", "hash", "hashed")
	// Words before "token" that make it a tokenizer, a count or a cursor.
	tokenDeny = set("bos", "eos", "pad", "unk", "sep", "cls", "mask", "start", "end", "stop",
		"special", "next", "page", "continuation", "cancellation", "sync", "cursor", "max", "min",
		"num", "total", "input", "output", "prompt", "completion", "reasoning", "cached", "cache",
		"lexer", "parser", "current", "peek", "first", "last", "eot", "image", "audio", "per",
		"expected", "unexpected", "thinking", "csrf_field", "sentence")
	secretDeny = set("existing", "is", "has", "use", "show", "hide", "no", "top", "k8s", "kube")
	// Words before "key" that make it a credential.
	keyQualifiers = set("api", "secret", "private", "access", "signing", "sign", "encryption",
		"encrypt", "decryption", "master", "account", "auth", "client", "app", "consumer",
		"license", "licence", "subscription", "service", "admin", "session", "shared", "webhook",
		"storage", "sas", "hmac", "jwt", "cookie", "crypto", "secure", "deploy", "write", "ingest",
		"ingestion", "management", "personal", "root", "live",
		"openai", "anthropic", "stripe", "sendgrid", "mailgun", "twilio", "github", "gitlab",
		"slack", "google", "maps", "aws", "azure", "gcp", "firebase", "supabase", "algolia",
		"mapbox", "datadog", "dd", "sentry", "pusher", "segment", "mixpanel", "amplitude", "wandb",
		"hf", "huggingface", "cohere", "mistral", "groq", "replicate", "pinecone", "openrouter",
		"deepseek", "gemini", "xai", "perplexity", "together", "fireworks", "elevenlabs",
		"deepgram", "resend", "postmark", "cloudflare", "vercel", "netlify", "heroku", "linear",
		"notion", "airtable", "shopify", "paypal", "plaid", "tavily", "serpapi", "brave", "exa")
	// Words that make an UPPER_SNAKE *_KEY name something else than a secret.
	envKeyDeny = set("public", "pub", "publishable", "primary", "sort", "partition", "cache",
		"foreign", "hash", "routing", "idempotency", "s3", "object", "site", "ssh", "gpg", "pgp",
		"kms", "lookup", "redis", "queue", "bucket", "group", "shard", "row", "index", "unique",
		"file", "path", "name", "id", "prefix")
)

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// classifyKey says whether a key names a credential, by its last word.
//
// long: a table of word rules (one case per credential word and its deny
// list), read top to bottom; splitting it would scatter the table.
func classifyKey(key string) keyClass {
	words := splitWords(key)
	n := len(words)
	if n == 0 {
		return notKey
	}
	last, prev := words[n-1], ""
	if n > 1 {
		prev = words[n-2]
	}
	switch {
	case n >= 3 && prev == "key" && last == "base" && words[n-3] == "secret": // SECRET_KEY_BASE
		return secretKey
	case last == "pass":
		// DB_PASS, --pass, pass: but not PASS: (test runners) or Pass:.
		if n == 1 && key != "pass" && key != "--pass" {
			return notKey
		}
		return passwordKey
	case last == "oldpwd":
		return notKey
	case passwordWords[last] || strings.HasSuffix(last, "password") || strings.HasSuffix(last, "passwd"):
		if passwordDeny[prev] {
			return notKey
		}
		return passwordKey
	case strings.HasSuffix(last, "secret"):
		if secretDeny[prev] {
			return notKey
		}
		return secretKey
	case strings.HasSuffix(last, "token"):
		if tokenDeny[prev] {
			return notKey
		}
		return secretKey
	case last == "key":
		if keyQualifiers[prev] {
			return secretKey
		}
		if n >= 2 && isEnvName(key) {
			for _, w := range words {
				if envKeyDeny[w] {
					return notKey
				}
			}
			return secretKey
		}
		return notKey
	case strings.HasSuffix(last, "apikey") || strings.HasSuffix(last, "secretkey") ||
		strings.HasSuffix(last, "privatekey") || strings.HasSuffix(last, "accesskey"):
		return secretKey
	case last == "auth" && n == 1:
		return weakKey
	}
	return notKey
}

// isEnvName reports an UPPER_SNAKE_CASE name.
func isEnvName(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return strings.IndexByte(key, '_') > 0
}

// typeWords are values that say what a field is, not what it holds:
// types, literals of other types, keywords that start an expression.
var typeWords = set("string", "str", "int", "bool", "boolean", "number", "null", "none", "nil",
	"true", "false", "undefined", "any", "optional", "bytes", "secretstr", "required", "yes", "no",
	"on", "off", "default", "await", "new", "function", "lambda", "async", "yield", "typeof",
	"return", "self", "this", "unknown", "object", "void", "char", "text", "varchar", "uuid",
	"enabled", "disabled", "empty", "bearer", "basic", "digest", "string?", "str?", "n/a",
	"sensitive", "secret()", "password()", "redacted", "hidden", "masked", "range", "iota", "make",
	"len", "func", "struct", "map", "chan", "select", "case", "files", "compat", "systemd", "sss",
	"ldap", "nis", "winbind", "read", "write")

// placeholderWords are values that stand for a secret in docs and examples.
var placeholderWords = set("password", "passwd", "pass", "secret", "token", "apikey", "api_key",
	"api-key", "key", "changeme", "change_me", "change-me", "changeit", "example", "placeholder",
	"dummy", "sample", "todo", "tbd", "removed", "omitted", "xxx", "foobar", "mypassword",
	"secret_key", "your_key", "value", "values")

// stopWords: a value that is an ordinary word is prose ("Password: the
// one you chose").
var stopWords = set("the", "a", "an", "and", "or", "is", "are", "was", "were", "be", "to", "of",
	"in", "on", "at", "by", "for", "from", "with", "as", "it", "its", "this", "that", "these",
	"those", "not", "if", "then", "else", "when", "which", "who", "what", "your", "our", "their",
	"my", "see", "use", "set", "get", "enter", "flag", "option", "argument", "parameter", "param",
	"field", "value", "below", "above", "here", "there", "same", "must", "should", "can", "will",
	"may", "do", "does", "has", "have", "missing", "invalid", "expired", "incorrect", "wrong",
	"changed", "updated", "reset", "sent", "saved", "used", "stored", "generated", "provided")

// referenceRe matches values that name where a secret comes from rather
// than the secret: calls, indexing, env lookups, config paths.
var referenceRe = regexp.MustCompile(`^(?:[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|::|->|\?\.)[A-Za-z_$][A-Za-z0-9_$]*)*[(\[]|(?:process\.env|os\.environ|os\.getenv|env|config|settings|self|this|args|params|opts|options|req|request|ctx|context|props|vars|secrets|inputs|var|local|data)\b[.\[(:])`)

// dottedRe matches a.b.c paths (every segment an identifier).
var dottedRe = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|::|->|\?\.)[A-Za-z_$][A-Za-z0-9_$]*)+(?:\(\))?[,;]?$`)

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z_]*$`)

var identDigitsRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// valueIsNotSecret reports values that name, describe or stand for a
// secret rather than hold one.
func valueIsNotSecret(key, v string, cls keyClass, quoted, flag bool) bool {
	t := strings.TrimSpace(v)
	if len(t) < 3 || strings.HasPrefix(t, redactedMark) || isReference(t, quoted) || isPlaceholder(t) {
		return true
	}
	lw := strings.ToLower(strings.TrimRight(t, ".,;:?!"))
	switch {
	case typeWords[lw]:
		return true
	case cls == weakKey && !randomLooking(t):
		return true
	case allDigits(t) && (len(t) <= 3 || cls != passwordKey && len(t) <= 6):
		return true // max_token: 4096, pass: 12
	case !quoted && t[0] == '-' && allDigits(t[1:]):
		return true // ScanToken = -1000
	case !quoted && isHexLiteral(strings.TrimPrefix(t, "-")):
		return true // AF_KEY = 0xf
	case flag && (t[0] == '-' || isMetavar(t)):
		return true // --password PASSWORD, --password --verbose
	}
	if quoted {
		return false
	}
	if first, _, multi := strings.Cut(t, " "); multi {
		// Several words (the rest of a YAML line): prose, or an expression
		// when the first word is code; else the whole line is the secret.
		return isProse(t) || isCode(first)
	}
	return isCode(t)
}

// isCode reports an unquoted word that is code or prose, not a literal: a
// keyword, a call, a path, a variable named after a credential.
func isCode(w string) bool {
	lw := strings.ToLower(strings.TrimRight(w, ".,;:?!"))
	return typeWords[lw] || stopWords[lw] || isReference(w, false) || referenceRe.MatchString(w) ||
		dottedRe.MatchString(w) || credentialIdent(w)
}

// isReference: $VAR, ${VAR}, $(cmd), {{ tmpl }}, #{ruby}, %s, <placeholder>,
// and unquoted [ { ( (a list, a map, an expression) or !Tag.
func isReference(v string, quoted bool) bool {
	switch c := v[0]; {
	case c == '$':
		return len(v) > 1 && (isWordByte(v[1]) || v[1] == '{' || v[1] == '(')
	case c == '<':
		return true
	case c == '%':
		return len(v) > 1 && strings.IndexByte("sdvqwxXfFgGeEtTcbou(#+- 0123456789.*", v[1]) >= 0 // a printf verb
	case strings.HasPrefix(v, "{{") || strings.HasPrefix(v, "#{"):
		return true
	case !quoted && (c == '[' || c == '{' || c == '(' || c == '!' || c == '&' || c == '*'):
		return true
	}
	return false
}

// isPlaceholder: xxxx, ***, sk-..., your-api-key-here, changeme, and a
// provider prefix followed by a row of x (sk_live_xxxxxxxx).
func isPlaceholder(v string) bool {
	lw := strings.ToLower(v)
	if placeholderWords[lw] || strings.HasSuffix(v, "...") || strings.HasSuffix(v, "…") {
		return true
	}
	if strings.Contains(lw, "xxxxxx") || strings.Contains(v, "******") || strings.Contains(v, "••••") {
		return true
	}
	if strings.Trim(lw, "x*•….-_# ") == "" {
		return true
	}
	if strings.HasPrefix(lw, "your") || strings.HasPrefix(lw, "put your") || strings.HasPrefix(lw, "insert") ||
		strings.HasPrefix(lw, "replace") || strings.HasPrefix(lw, "enter your") || strings.HasPrefix(lw, "<your") {
		return true
	}
	for _, here := range []string{"_here", "-here", " here"} {
		if strings.HasSuffix(lw, here) {
			return true
		}
	}
	return false
}

// isProse: three or more words of lower-case letters.
func isProse(v string) bool {
	words := strings.Fields(v)
	if len(words) < 3 {
		return false
	}
	for _, w := range words {
		w = strings.TrimRight(w, ".,;:!?()")
		for i := 0; i < len(w); i++ {
			if c := w[i]; !(c >= 'a' && c <= 'z' || c == '\'' || c == '-') {
				return false
			}
		}
	}
	return true
}

// credentialIdent: an unquoted identifier without digits that itself
// names a credential (hashedPassword, access_token, API_KEY): a variable, a
// metavariable.
func credentialIdent(v string) bool {
	return identRe.MatchString(v) && namesCredential(v)
}

func namesCredential(v string) bool {
	lw := strings.ToLower(v)
	for _, w := range []string{"pass", "pwd", "secret", "token", "key", "auth", "cred"} {
		if strings.Contains(lw, w) {
			return true
		}
	}
	return false
}

func isMetavar(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

func isHexLiteral(v string) bool {
	return len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') && isHex(v[2:])
}

func isHex(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '_') {
			return false
		}
	}
	return v != ""
}

func allDigits(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}

// randomLooking: 12 or more base64 characters with a digit or both cases.
func randomLooking(v string) bool {
	if len(v) < 12 {
		return false
	}
	var digit, upper, lower bool
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case strings.IndexByte("+/=_-", c) < 0:
			return false
		}
	}
	return digit || upper && lower
}

// secretField reports a JSON object member whose key names a credential
// and whose string value holds one (tool arguments: {"api_key": "..."}).
func (r *redactor) secretField(k, v string) bool {
	cls := classifyKey(k)
	if cls == notKey || valueIsNotSecret(k, v, cls, true, false) {
		return false
	}
	return !r.rules().allowed(v)
}
