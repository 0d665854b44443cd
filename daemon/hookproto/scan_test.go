package hookproto

import (
	"strings"
	"testing"
)

func TestTranscriptPath(t *testing.T) {
	big := strings.Repeat("x", ScanWindow)
	for _, tc := range []struct {
		name, payload, want string
		ok                  bool
	}{
		{"real order", `{"session_id":"s","transcript_path":"/h/.claude/projects/-w/s.jsonl","cwd":"/w"}`, "/h/.claude/projects/-w/s.jsonl", true},
		{"white space", " {\n \"transcript_path\" : \"/a\" }", "/a", true},
		{"escapes in value", `{"transcript_path":"\/a\u00e9\"b"}`, `/aé"b`, true},
		{"escaped key", `{"transcript\u005fpath":"/k"}`, "/k", true},
		{"nested decoy first", `{"tool_input":{"transcript_path":"/decoy","x":[1,{"y":"}"}]},"transcript_path":"/real"}`, "/real", true},
		{"string decoy first", `{"prompt":"\"transcript_path\":\"/decoy\"","transcript_path":"/real"}`, "/real", true},
		{"absent", `{"session_id":"s"}`, "", false},
		{"not a string", `{"transcript_path":42}`, "", false},
		{"empty", `{"transcript_path":""}`, "", false},
		{"not an object", `["transcript_path","/x"]`, "", false},
		{"garbage", `\x00\xff{{{`, "", false},
		{"cut in value", `{"transcript_path":"/unfinish`, "", false},
		{"beyond the scan window", `{"pad":"` + big + `","transcript_path":"/far"}`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := TranscriptPath([]byte(tc.payload))
			if got != tc.want || ok != tc.ok {
				t.Errorf("TranscriptPath(%.60q)=%q,%v, want %q,%v", tc.payload, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestScanObjectStopsAtCut(t *testing.T) {
	full := `{"a":"1","b":{"c":[1,2,"]"]},"d":true,"e":12345}`
	for cut := 0; cut <= len(full); cut++ {
		var keys []string
		scanObject([]byte(full[:cut]), func(k, v []byte) bool {
			keys = append(keys, string(k)+"="+string(v))
			return true
		})
		// Every yielded member must be a complete member of the full object.
		for _, kv := range keys {
			k, v, _ := strings.Cut(kv, "=")
			if !strings.Contains(full, `"`+k+`":`+v) {
				t.Errorf("cut %d: got member %s=%s, want only complete members", cut, k, v)
			}
		}
		if cut == len(full) && len(keys) != 4 {
			t.Errorf("full object: got %d members, want 4", len(keys))
		}
	}
}
