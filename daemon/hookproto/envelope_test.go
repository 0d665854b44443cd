package hookproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func sampleEnvelope() Envelope {
	return Envelope{
		Proto:          Version,
		ID:             EventID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		ReceivedAt:     time.Date(2026, 11, 22, 1, 42, 35, 865123456, time.UTC),
		TranscriptSize: 4096,
		Body:           []byte(`{"session_id":"s","hook_event_name":"Stop"}`),
	}
}

func TestEnvelopeBinaryRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  Envelope
	}{
		{"plain", sampleEnvelope()},
		{"truncated", func() Envelope { e := sampleEnvelope(); e.OriginalSize = 1 << 30; return e }()},
		{"unknown size, empty body", Envelope{Proto: 1, ReceivedAt: time.Unix(0, 0).UTC(), TranscriptSize: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.env.AppendBinary([]byte("prefix"))
			var got Envelope
			if err := got.UnmarshalBinary(b[len("prefix"):]); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if got.Proto != tc.env.Proto || got.ID != tc.env.ID || !got.ReceivedAt.Equal(tc.env.ReceivedAt) ||
				got.TranscriptSize != tc.env.TranscriptSize || got.OriginalSize != tc.env.OriginalSize || !bytes.Equal(got.Body, tc.env.Body) {
				t.Errorf("round trip: got %+v, want %+v", got, tc.env)
			}
		})
	}
}

func TestEnvelopeUnmarshalBinaryRejects(t *testing.T) {
	good := sampleEnvelope()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", make([]byte, envelopeHeaderSize-1)},
		{"transcript size below -1", func() []byte {
			e := good
			e.TranscriptSize = -7
			return e.AppendBinary(nil)
		}()},
		{"original size smaller than body", func() []byte {
			e := good
			e.OriginalSize = 3
			return e.AppendBinary(nil)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Envelope
			if err := e.UnmarshalBinary(tc.b); err == nil {
				t.Errorf("UnmarshalBinary: got nil error, want one")
			}
		})
	}
}

// The request the hook writes by hand must be a valid HTTP/1.1 request that
// net/http reads back into the same envelope.
func TestAppendRequestIsHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  Envelope
	}{
		{"plain", sampleEnvelope()},
		{"truncated", func() Envelope { e := sampleEnvelope(); e.OriginalSize = 99999; return e }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(tc.env.AppendRequest(nil))))
			if err != nil {
				t.Fatalf("ReadRequest: %v", err)
			}
			if req.Method != http.MethodPost || req.URL.Path != PathHook || req.Host != Host {
				t.Errorf("request line: got %s %s host %s, want POST %s host %s", req.Method, req.URL.Path, req.Host, PathHook, Host)
			}
			body, _ := io.ReadAll(req.Body)
			got, err := FromHeaders(req.Header.Get, body, time.Now())
			if err != nil {
				t.Fatalf("FromHeaders: %v", err)
			}
			if got.ID != tc.env.ID || !got.ReceivedAt.Equal(tc.env.ReceivedAt) || got.TranscriptSize != tc.env.TranscriptSize ||
				got.OriginalSize != tc.env.OriginalSize || !bytes.Equal(got.Body, tc.env.Body) || got.Proto != Version {
				t.Errorf("got %+v, want %+v", got, tc.env)
			}
		})
	}
}

func TestFromHeaders(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(`{}`)
	for _, tc := range []struct {
		name    string
		hdr     map[string]string
		wantErr string
		check   func(t *testing.T, e Envelope)
	}{
		{name: "no headers (curl)", check: func(t *testing.T, e Envelope) {
			if !e.ReceivedAt.Equal(now) || e.TranscriptSize != -1 || !e.ID.IsZero() || e.Proto != Version {
				t.Errorf("got %+v, want defaults (now, -1, zero id, proto %d)", e, Version)
			}
		}},
		{name: "unsupported proto", hdr: map[string]string{HeaderProto: "7"}, wantErr: "unsupported protocol version 7"},
		{name: "proto not a number", hdr: map[string]string{HeaderProto: "v1"}, wantErr: "not an integer"},
		{name: "bad event id", hdr: map[string]string{HeaderEventID: "xyz"}, wantErr: "bad event id"},
		{name: "bad receipt time", hdr: map[string]string{HeaderReceivedAt: "yesterday"}, wantErr: HeaderReceivedAt},
		{name: "bad transcript size", hdr: map[string]string{HeaderTranscriptSize: "-2"}, wantErr: HeaderTranscriptSize},
		{name: "original size below body", hdr: map[string]string{HeaderOriginalSize: "1"}, wantErr: HeaderOriginalSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.hdr {
				h.Set(k, v)
			}
			e, err := FromHeaders(h.Get, body, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FromHeaders: got err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromHeaders: %v", err)
			}
			tc.check(t, e)
		})
	}
	_, err := FromHeaders(http.Header{HeaderProto: {"9"}}.Get, body, now)
	if !errors.Is(err, ErrUnsupportedProto) {
		t.Errorf("unsupported proto: got %v, want ErrUnsupportedProto", err)
	}
}

func TestSupported(t *testing.T) {
	for _, tc := range []struct {
		v    int
		want bool
	}{{Version, true}, {Version - 1, Version-1 >= 1}, {Version + 1, false}, {0, false}, {-1, false}} {
		if got := Supported(tc.v); got != tc.want {
			t.Errorf("Supported(%d)=%v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestEventID(t *testing.T) {
	a, b := NewEventID(), NewEventID()
	if a == b || a.IsZero() {
		t.Errorf("NewEventID: got %v and %v, want two distinct non-zero ids", a, b)
	}
	got, err := ParseEventID(a.String())
	if err != nil || got != a {
		t.Errorf("ParseEventID(%q)=%v,%v, want %v", a.String(), got, err, a)
	}
}
