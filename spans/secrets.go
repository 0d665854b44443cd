package spans

import (
	"regexp"
	"slices"
	"strings"
)

// The built-in rules, most specific first: key blocks, then provider token
// formats (the whole token goes), then credentials found by their context
// (URLs, headers, command lines, SQL, .netrc) where the context stays, and
// last the key = value assignments. Each is exercised by the corpus in
// testdata/secrets (see its README.md), with look-alikes that must survive.
var builtinRules = []rule{
	// Key blocks. A block whose END line was cut off (head, a truncated
	// tool result) goes up to the last base64 line.
	{kind: "private_key", re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----` +
		`(?:(?:[A-Za-z0-9+/=\s]|\\+[nr]|` + pemHeader + `)*-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----` +
		`|(?:(?:\s|\\+[nr])+(?:[A-Za-z0-9+/=]{16,}|` + pemHeader + `))+)`),
		need: []string{"private key"}},
	{kind: "private_key", lower: true, re: regexp.MustCompile(`(?m)(private-lines:[ \t]*\d+[ \t]*\r?\n)([a-z0-9+/=]+(?:\r?\n[a-z0-9+/=]+)*)$`),
		val: []int{2}, need: []string{"private-lines:"}}, // PuTTY
	{kind: "k8s_secret", fn: scanK8sSecrets, need: []string{"secret"}},

	// Provider token formats.
	token("anthropic_key", `sk-ant-[a-z0-9]{2,}-[A-Za-z0-9_\-]{20,}`, "sk-ant-"),
	token("openai_key", `sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]*[0-9][A-Za-z0-9_\-]*[A-Za-z][A-Za-z0-9_\-]{18,}`, "sk-"),
	token("github_token", `gh[pousr]_[A-Za-z0-9]{36,}`, "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
	token("github_token", `github_pat_[A-Za-z0-9_]{22,}`, "github_pat_"),
	token("gitlab_token", `gl(?:pat|dt|rt|ptt|oas|soat|cbt|imt|ffct|agent|ft|wt)-[A-Za-z0-9_\-]{20,}`,
		"glpat-", "gldt-", "glrt-", "glptt-", "gloas-", "glsoat-", "glcbt-", "glimt-", "glffct-", "glagent-", "glft-", "glwt-"),
	lineToken("aws_access_key", `(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`, "akia", "asia", "abia", "acca"),
	token("google_api_key", `AIza[0-9A-Za-z_\-]{35}`, "aiza"),
	token("google_oauth_secret", `GOCSPX-[A-Za-z0-9_\-]{28}`, "gocspx-"),
	token("google_oauth_token", `ya29\.[A-Za-z0-9_\-]{20,}`, "ya29."),
	token("google_oauth_token", `1//0[A-Za-z0-9_\-]{40,}`, "1//0"),
	token("slack_token", `xox[abeposr](?:\.xox[bp])?-[A-Za-z0-9\-]{10,}`, "xox"),
	token("slack_token", `xapp-\d-[A-Za-z0-9\-]{10,}`, "xapp-"),
	{kind: "slack_webhook", re: regexp.MustCompile(`(hooks\.slack\.com/(?:services|workflows|triggers)/)([A-Za-z0-9_/\-]{20,})`), val: []int{2},
		need: []string{"hooks.slack.com/"}},
	{kind: "discord_webhook", re: regexp.MustCompile(`(discord(?:app)?\.com/api/webhooks/)(\d+/[A-Za-z0-9_\-]{20,})`), val: []int{2},
		need: []string{"discord"}},
	{kind: "telegram_bot_token", line: true, re: regexp.MustCompile(`(?:^|[^A-Za-z0-9]|bot)(\d{8,10}:AA[A-Za-z0-9_\-]{33})(?:[^A-Za-z0-9_\-]|$)`),
		val: []int{1}, need: []string{":aa"}},
	token("stripe_key", `sk_(?:live|test)_[A-Za-z0-9]{16,}`, "sk_live_", "sk_test_"),
	token("stripe_key", `rk_(?:live|test)_[A-Za-z0-9]{16,}`, "rk_live_", "rk_test_"),
	token("stripe_key", `whsec_[A-Za-z0-9]{24,}`, "whsec_"),
	token("huggingface_token", `hf_[A-Za-z0-9]{30,}\b`, "hf_"),
	token("npm_token", `npm_[A-Za-z0-9]{36}\b`, "npm_"),
	token("pypi_token", `pypi-[A-Za-z0-9_\-]{50,}`, "pypi-"),
	token("sendgrid_key", `SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}`, "sg."),
	token("twilio_key", `SK[0-9a-fA-F]{32}\b`, "sk"),
	token("digitalocean_token", `do[por]_v1_[a-f0-9]{64}`, "dop_v1_", "doo_v1_", "dor_v1_"),
	token("shopify_token", `shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}`, "shpat_", "shpss_", "shpca_", "shppa_"),
	token("linear_key", `lin_api_[A-Za-z0-9]{40}`, "lin_api_"),
	token("databricks_token", `dapi[a-f0-9]{32}(?:-\d)?\b`, "dapi"),
	token("vault_token", `hv[sb]\.[A-Za-z0-9_\-]{24,}`, "hvs.", "hvb."),
	token("age_key", `AGE-SECRET-KEY-1[0-9A-Z]{58}`, "age-secret-key-1"),
	token("grafana_token", `glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}`, "glsa_"),
	token("grafana_token", `glc_[A-Za-z0-9+/]{32,}={0,2}`, "glc_"),
	token("newrelic_key", `NRAK-[A-Z0-9]{27}`, "nrak-"),
	token("docker_token", `dckr_pat_[A-Za-z0-9_\-]{20,}`, "dckr_pat_"),
	{kind: "azure_client_secret", line: true, re: regexp.MustCompile(`(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)`),
		val: []int{1}, need: []string{"q~"}},
	token("supabase_token", `sbp_[a-f0-9]{40}`, "sbp_"),
	token("doppler_token", `dp\.pt\.[A-Za-z0-9]{40,}`, "dp.pt."),
	token("pulumi_token", `pul-[a-f0-9]{40}`, "pul-"),
	token("postman_key", `PMAK-[a-f0-9]{24}-[a-f0-9]{34}`, "pmak-"),
	token("notion_token", `ntn_[A-Za-z0-9]{40,}`, "ntn_"),
	token("groq_key", `gsk_[A-Za-z0-9]{48,}`, "gsk_"),
	token("replicate_token", `r8_[A-Za-z0-9]{37}\b`, "r8_"),
	token("tavily_key", `tvly-(?:dev-)?[A-Za-z0-9]{32}`, "tvly-"),
	token("langsmith_key", `lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}`, "lsv2_"),
	token("jwt", `eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}`, "eyj"),

	// Credentials in their context: the context stays.
	{kind: "basic_auth_url", fn: scanURLCredentials, skip: notLiteral, need: []string{"://"}},
	{kind: "bearer_token", lower: true, re: regexp.MustCompile(`(bearer\s+)([a-z0-9._~+/\-]{16,}=*)`), val: []int{2},
		left: notWord, skip: func(v string) bool { return !strings.ContainsAny(v, "0123456789") }, need: []string{"bearer"}},
	{kind: "authorization", lower: true, left: notWord,
		re:  regexp.MustCompile(`(authorization["']?\s*[:=]\s*["']?(?:(?:basic|bearer|token|bot|apikey|key|sso-key|digest|negotiate|ntlm)\s+)?)([a-z0-9._~+/=:\-]{8,})`),
		val: []int{2}, skip: func(v string) bool { return !strings.ContainsAny(v, "0123456789+/=") || notLiteral(v) },
		need: []string{"authorization"}},
	{kind: "cookie", fn: scanCookies, skip: func(v string) bool { return isReference(v, true) }, need: []string{"cookie", "curl"}},
	{kind: "aws_secret_key", lower: true, left: notWord,
		re:  regexp.MustCompile(`(aws[ _\-]?secret[ _\-]?(?:access[ _\-]?)?key(?:[ \t]*\[[^\]\n]*\])?["']?\s*[:=]\s*["']?)([a-z0-9/+=]{40})(?:[^a-z0-9/+=]|$)`),
		val: []int{2}, need: []string{"aws"}},
	{kind: "azure_sas", re: regexp.MustCompile(`sig=([A-Za-z0-9%+/=]{20,})`), val: []int{1},
		left: func(c byte) bool { return c == '?' || c == '&' }, need: []string{"sig="}},

	// Command lines: the password arguments of the tools known to take one
	// (-pX is mysql's password, not anyone's -p).
	cli(`mysql[a-z]*\b[^\n|;&]*?\s-p`+cliValue, "mysql"),
	cli(`mariadb[a-z\-]*\b[^\n|;&]*?\s-p`+cliValue, "mariadb"),
	cli(`curl\b[^\n|;&]*?\s(?:-u|--user|-U|--proxy-user)(?:[ \t]+|=)?(?:"[^":\n]*:([^"\n]*)"|'[^':\n]*:([^'\n]*)'|[^\s:'"]*:([^\s'"]+))`, "curl"),
	cli(`sshpass\s+-p[ \t]*`+cliValue, "sshpass"),
	cli(`redis-cli\b[^\n|;&]*?\s-a[ \t]+`+cliValue, "redis-cli"),
	{kind: "cli_password", line: true, re: regexp.MustCompile(`login(?:[ \t][^\n|;&]*?)?[ \t]-p[ \t]+` + cliValue), val: []int{1, 2, 3},
		left: func(c byte) bool { return c == ' ' || c == '\t' }, skip: loginSkip, need: []string{"login"}}, // docker/podman/helm/az... login -p
	cli(`twine\b[^\n|;&]*?\s-p[ \t]+`+cliValue, "twine"),
	cli(`-pass(?:in|out)?[ \t]+["']?pass:([^\s'"]+)`, "pass:"),
	{kind: "cli_password", line: true, left: notWord, skip: notLiteral, need: []string{"htpasswd"}, val: []int{2, 3, 4},
		re: regexp.MustCompile(`htpasswd((?:[ \t]+-[A-Za-z]+)*[ \t]+-[A-Za-z]*b[A-Za-z]*(?:[ \t]+-[A-Za-z]+)*)[ \t]+\S+[ \t]+\S+[ \t]+` + cliValue)},
	cli(`smbclient\b[^\n|;&]*?\s(?:-U|--user)(?:[ \t]+|=)?["']?[^\s%"']+%([^\s"']+)`, "smbclient"),
	// SQL: CREATE/ALTER USER or ROLE ... [WITH] PASSWORD '...', IDENTIFIED BY '...'
	// (on the lines that say password or identified: user and role are
	// everywhere).
	{kind: "sql_password", line: true, lower: true, left: notWord, skip: notLiteral, val: []int{1, 2}, need: []string{"password", "identified"},
		re: regexp.MustCompile(`(?:user|role)\b[^\n;]*?\b(?:password|identified\s+(?:with\s+\S+\s+)?by)\s+(?:'([^'\n]*)'|"([^"\n]*)")`)},
	{kind: "netrc_password", lower: true, left: notWord, skip: notLiteral, val: []int{1},
		re:   regexp.MustCompile(`machine\s+\S+(?:\s+(?:login|account)\s+\S+)*\s+password\s+(\S+)`),
		need: []string{"machine"}},
	{kind: kindAssignment, left: notWord, skip: notLiteral, val: []int{1, 2}, need: []string{"define("}, // PHP, wp-config.php
		re: regexp.MustCompile(`define\(\s*['"][A-Z0-9_]*(?:PASSWORD|PASS|SECRET|KEY|SALT|TOKEN)['"]\s*,\s*(?:'([^'\n]*)'|"([^"\n]*)")`)},

	// key = value, last: what the rules above masked it leaves alone.
	{kind: kindAssignment, fn: scanAssignments, need: assignmentNeed},
}

// pemHeader is a header line of an encrypted PEM or armored PGP block.
// The block's body holds base64, these and (escaped) newlines only, so a
// BEGIN line with no END does not send the search to the end of the text.
const pemHeader = `(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):[^\n\\]*`

// token is a provider token format: a literal prefix (the regexp package
// skips ahead to it), not inside a longer word.
func token(kind, re string, need ...string) rule {
	return rule{kind: kind, re: regexp.MustCompile(re), left: notWord, skip: isPlaceholder, need: need}
}

// lineToken is a token format without a single literal prefix, run on the
// lines that hold one of its literals.
func lineToken(kind, re string, need ...string) rule {
	r := token(kind, re, need...)
	r.line = true
	return r
}

// cliValue is a command-line argument: 'quoted', "quoted" or a word.
const cliValue = `(?:'([^'\n]*)'|"([^"\n]*)"|([^\s'"]+))`

// cli is a password argument of a known command (the first group that
// matched is the password), run on the lines naming the command.
func cli(re string, need ...string) rule {
	return rule{kind: "cli_password", line: true, left: notWord, skip: notLiteral, re: regexp.MustCompile(re),
		val: []int{1, 2, 3}, need: need}
}

// notLiteral reports a value in a context that makes it a credential (a
// URL, a flag, a quoted SQL string) that is still no secret: a reference
// or a placeholder.
func notLiteral(v string) bool {
	return v == "" || isReference(v, true) || isPlaceholder(v) || strings.HasPrefix(v, redactedMark)
}

// loginSkip: docker/helm/az login -p takes a password, but "login -p 22"
// is a port.
func loginSkip(v string) bool { return notLiteral(v) || allDigits(v) && len(v) <= 5 }

// scanURLCredentials finds the password of scheme://user:password@host
// (any scheme; the user and the host stay) and a token used as the user
// name (https://<token>@github.com).
func scanURLCredentials(s, _ string, emit func(start, end int)) {
	for off := 0; ; {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			return
		}
		i += off
		off = i + 3
		j := i
		for j > 0 && (isWordByte(s[j-1]) || s[j-1] == '+' || s[j-1] == '.' || s[j-1] == '-') {
			j--
		}
		if j == i || !(s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			continue
		}
		a := i + 3
		e := a
		for e < len(s) && strings.IndexByte(" \t\r\n/?#\"'`<>\\)", s[e]) < 0 {
			e++
		}
		at := strings.LastIndexByte(s[a:e], '@')
		if at <= 0 || at+1 >= e-a {
			continue
		}
		at += a
		if c := s[at+1]; !(isWordByte(c) || c == '[') {
			continue
		}
		if strings.Contains(s[a:at], redactedMark) {
			continue // done already (a mark holds a ':')
		}
		if c := strings.IndexByte(s[a:at], ':'); c >= 0 {
			emit(a+c+1, at)
		} else if userToken(s[a:at]) {
			emit(a, at)
		}
		// The next "://" may end this authority (a://u:p@b://...): the
		// search goes on from here. Each authority ends at a '/', so the
		// scans do not overlap.
	}
}

// userToken: a user name of 20 or more letters, digits, '_' and '-' with
// both letters and digits is a token.
func userToken(u string) bool {
	if len(u) < 20 {
		return false
	}
	var digit, letter bool
	for i := 0; i < len(u); i++ {
		switch c := u[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
		case c != '_' && c != '-':
			return false
		}
	}
	return digit && letter
}

var curlCookieRe = regexp.MustCompile(`curl\b[^\n|;&]*?\s(?:-b|--cookie)(?:[ \t]+|=)(?:"([^"\n]*)"|'([^'\n]*)'|([^\s'"]+))`)

// scanCookies finds cookie values: every one of a Cookie header, the first
// of a Set-Cookie header (the rest are attributes), every one of curl -b.
func scanCookies(s, low string, emit func(start, end int)) {
	var found [][2]int // value ranges, in order
	for off := 0; ; {
		i := strings.Index(low[off:], "cookie")
		if i < 0 {
			break
		}
		i += off
		off = i + len("cookie")
		set := strings.HasSuffix(low[:i], "set-")
		h := i
		if set {
			h -= len("set-")
		}
		if h > 0 && (isWordByte(s[h-1]) || s[h-1] == '-') {
			continue
		}
		p := off
		if p < len(s) && (s[p] == '"' || s[p] == '\'') {
			p++
		}
		for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
			p++
		}
		if p >= len(s) || s[p] != ':' {
			continue
		}
		p++
		for p < len(s) && (s[p] == ' ' || s[p] == '\t' || s[p] == '"' || s[p] == '\'') {
			p++
		}
		e := valueEnd(s, p, "\r\n\"'")
		found = cookiePairs(s, p, e, set, found)
		off = max(off, e)
	}
	for _, ln := range linesWith(low, []string{"curl"}) {
		for _, m := range curlCookieRe.FindAllStringSubmatchIndex(s[ln[0]:ln[1]], -1) {
			for g := 1; g <= 3; g++ {
				if m[2*g] >= 0 {
					found = cookiePairs(s, ln[0]+m[2*g], ln[0]+m[2*g+1], false, found)
					break
				}
			}
		}
	}
	// Headers first, then curl flags: emit in text order.
	sortRanges(found)
	for _, f := range found {
		emit(f[0], f[1])
	}
}

// cookiePairs appends the value ranges of the name=value pairs in s[a:b]
// (only the first with first).
func cookiePairs(s string, a, b int, first bool, out [][2]int) [][2]int {
	for a < b {
		e := b
		if i := strings.IndexByte(s[a:b], ';'); i >= 0 {
			e = a + i
		}
		if eq := strings.IndexByte(s[a:e], '='); eq > 0 {
			vs, ve := a+eq+1, e
			for vs < ve && s[vs] == ' ' {
				vs++
			}
			for ve > vs && s[ve-1] == ' ' {
				ve--
			}
			if ve > vs {
				out = append(out, [2]int{vs, ve})
			}
		}
		if first {
			break
		}
		a = e + 1
	}
	return out
}

func sortRanges(r [][2]int) { slices.SortStableFunc(r, func(a, b [2]int) int { return a[0] - b[0] }) }

// scanK8sSecrets finds the values of a Kubernetes Secret's data and
// stringData (YAML documents with kind: Secret, or kubectl's JSON): every
// value is a secret, whatever its key is called.
func scanK8sSecrets(s, _ string, emit func(start, end int)) {
	if !strings.Contains(s, "Secret") {
		return
	}
	var found [][2]int
	if strings.Contains(s, `"kind"`) && jsonKindSecret.MatchString(s) {
		found = k8sJSONData(s, found)
	}
	if strings.Contains(s, "kind:") {
		for _, doc := range yamlDocs(s) {
			if k8sYAMLIsSecret(s[doc[0]:doc[1]]) {
				found = k8sYAMLData(s, doc[0], doc[1], found)
			}
		}
	}
	sortRanges(found)
	last := 0
	for _, f := range found {
		if f[0] >= last {
			emit(f[0], f[1])
			last = f[1]
		}
	}
}

var (
	jsonKindSecret = regexp.MustCompile(`"kind"\s*:\s*"Secret"`)
	jsonDataOpen   = regexp.MustCompile(`"(?:data|stringData)"\s*:\s*\{`)
	jsonStringPair = regexp.MustCompile(`"(?:[^"\\\n]|\\.)*"\s*:\s*"((?:[^"\\\n]|\\.)*)"`)
)

// k8sJSONData appends the values of every "data"/"stringData" object.
func k8sJSONData(s string, out [][2]int) [][2]int {
	done := 0
	for _, m := range jsonDataOpen.FindAllStringIndex(s, -1) {
		if m[0] < done {
			continue // inside the previous object
		}
		end := jsonObjectEnd(s, m[1])
		done = end
		for _, p := range jsonStringPair.FindAllStringSubmatchIndex(s[m[1]:end], -1) {
			if p[3] > p[2] {
				out = append(out, [2]int{m[1] + p[2], m[1] + p[3]})
			}
		}
	}
	return out
}

// jsonObjectEnd returns the index of the '}' closing the object whose
// content starts at i (strings skipped), or len(s).
func jsonObjectEnd(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return len(s)
}

// yamlDocs splits s into YAML documents at "---" lines.
func yamlDocs(s string) [][2]int {
	var docs [][2]int
	start := 0
	for off := 0; off < len(s); {
		e := strings.IndexByte(s[off:], '\n')
		if e < 0 {
			e = len(s) - off
		}
		if strings.TrimRight(s[off:off+e], " \t\r") == "---" {
			docs = append(docs, [2]int{start, off})
			start = off + e
		}
		off += e + 1
	}
	return append(docs, [2]int{start, len(s)})
}

// k8sYAMLIsSecret: a "kind: Secret" line (maybe a list item).
func k8sYAMLIsSecret(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		t = strings.TrimSpace(strings.TrimPrefix(t, "- "))
		if v, ok := strings.CutPrefix(t, "kind:"); ok && strings.Trim(strings.TrimSpace(v), `"'`) == "Secret" {
			return true
		}
	}
	return false
}

// k8sYAMLData appends the values under every data: / stringData: block of
// s[a:b]: "key: value" values at the block's first indent, and every line
// indented deeper (the body of a key: | block).
func k8sYAMLData(s string, a, b int, out [][2]int) [][2]int {
	inBlock, blockIndent, childIndent := false, 0, -1
	for off := a; off < b; {
		e := strings.IndexByte(s[off:b], '\n')
		if e < 0 {
			e = b - off
		}
		line := strings.TrimRight(s[off:off+e], "\r")
		content := strings.TrimLeft(line, " ")
		indent := len(line) - len(content)
		switch {
		case content == "":
		case inBlock && indent > blockIndent:
			if childIndent < 0 {
				childIndent = indent
			}
			vs := off + indent
			if indent == childIndent {
				c := strings.Index(content, ": ")
				if c < 0 {
					if strings.HasSuffix(content, ":") {
						break
					}
					c = -2
				}
				vs += c + 2
			}
			ve := off + len(line)
			for vs < ve && s[vs] == ' ' {
				vs++
			}
			if v := s[vs:ve]; v != "" && !isBlockIndicator(v) {
				out = append(out, [2]int{vs, ve})
			}
		default:
			inBlock = false
			c := strings.TrimPrefix(content, "- ")
			if c == "data:" || c == "stringData:" {
				inBlock, blockIndent, childIndent = true, indent+len(content)-len(c), -1
			}
		}
		off += e + 1
	}
	return out
}

// isBlockIndicator: |, >, |-, >+, |2...
func isBlockIndicator(v string) bool {
	if v[0] != '|' && v[0] != '>' {
		return false
	}
	return strings.Trim(v[1:], "+-0123456789") == ""
}
