package sqlite

import (
	"reflect"
	"testing"
)

func sampleDetails() details {
	return details{
		inPages: []int64{3, 9},
		inTail: []shape{
			{role: "user", parts: []shapePart{{typ: "text", content: 11}}},
			{role: "assistant", finish: "stop", name: "bot", parts: []shapePart{
				{typ: "reasoning", content: 12},
				{typ: "tool_call", id: "c1", name: "lookup", args: 13},
				{typ: "blob", inline: "iVBORw0KGgo=", mime: "image/png", modality: "image"},
				{typ: "uri", uri: "https://x/y"},
			}},
		},
		out: []shape{{role: "tool", parts: []shapePart{
			{typ: "tool_call_response", id: "c1", resp: 14},
			{typ: "tool_call_response", id: "c2", resp: 19, respString: true},
			{typ: "tool_call_response", id: "c3", resp: 20, respString: true, respRaw: 21},
		}}},
		sys:    []int64{15, 0, 16},
		args:   17,
		result: 18,
		events: []byte(`[{"name":"e"}]`),
		raw:    []byte(`{"traceId":"x"}`),
	}
}

func TestDetailsRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		x    details
	}{
		{"empty", details{}},
		{"full", sampleDetails()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeDetails(tc.x.encode())
			if err != nil {
				t.Fatalf("decodeDetails: %v", err)
			}
			if !reflect.DeepEqual(got, tc.x) {
				t.Errorf("round trip:\ngot  %+v\nwant %+v", got, tc.x)
			}
		})
	}
	page := sampleDetails().inTail
	got, err := decodePage(encodePage(page))
	if err != nil || !reflect.DeepEqual(got, page) {
		t.Errorf("page round trip: got %+v, %v, want %+v", got, err, page)
	}
}

func TestDetailsCorrupt(t *testing.T) {
	good := sampleDetails().encode()
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{99}, good[1:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"huge count", []byte{detailsVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeDetails(tc.b); err == nil {
				t.Errorf("decodeDetails(%x): got nil error, want one", tc.b)
			}
		})
	}
}

// FuzzDecodeDetails checks that a corrupt details blob (the file is on a
// user's disk) is an error, never a panic, and that what decodes
// re-encodes to the same bytes.
func FuzzDecodeDetails(f *testing.F) {
	f.Add(sampleDetails().encode())
	f.Add((&details{}).encode())
	f.Add([]byte{detailsVersion, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := decodeDetails(b)
		if err != nil {
			return
		}
		again, err := decodeDetails(x.encode())
		if err != nil || !reflect.DeepEqual(again, x) {
			t.Fatalf("re-decode: got %+v, %v, want %+v", again, err, x)
		}
	})
}

// FuzzDecodePage is FuzzDecodeDetails for input-history pages.
func FuzzDecodePage(f *testing.F) {
	f.Add(encodePage(sampleDetails().inTail))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := decodePage(b)
		if err != nil {
			return
		}
		again, err := decodePage(encodePage(list))
		if err != nil || !reflect.DeepEqual(again, list) {
			t.Fatalf("re-decode: got %+v, %v, want %+v", again, err, list)
		}
	})
}

func TestNewResp(t *testing.T) {
	cases := []struct {
		name, resp, text string
		isString, raw    bool
	}{
		{"plain-text output, as the normalizer encodes it", `"line one\nline <two> & \"three\""`, "line one\nline <two> & \"three\"", true, false},
		{"other escapes keep the bytes as written", `"caf\u00e9"`, "café", true, true},
		{"surrounding space keeps the bytes", ` "x" `, "x", true, true},
		{"a JSON object is stored as written", `{"stdout":"ok"}`, `{"stdout":"ok"}`, false, false},
		{"an empty string is stored as written", `""`, `""`, false, false},
		{"not JSON", `"unterminated`, `"unterminated`, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, raw, isString := newResp([]byte(tc.resp))
			if text == nil || text.body != tc.text || isString != tc.isString || (raw != nil) != tc.raw {
				t.Fatalf("newResp(%s): got text %+v, raw %+v, string %v, want text %q, string %v, raw kept %v", tc.resp, text, raw, isString, tc.text, tc.isString, tc.raw)
			}
			// What the read path gives back is the response as written.
			back := text.body
			switch {
			case raw != nil:
				back = raw.body
			case isString:
				back = encodeJSONString(text.body)
			}
			if back != tc.resp {
				t.Errorf("read back: got %s, want %s", back, tc.resp)
			}
		})
	}
}
