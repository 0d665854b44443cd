// Command hooklog records hook payloads for the agent harnesses: it is
// built as a program named weave-hook (so `weave-hook install` registers
// and, for Codex, trusts it like the real one) and appends one JSON line
// per event to $WEAVE_HOOKLOG: the time, the event, the agent (--agent), the size of
// transcript_path when the hook ran (what the replay tests cut the session
// files back to) and the payload. One write(2) per line, so parallel hooks
// never interleave. It prints nothing and exits 0, as weave-hook does.
package main

import (
	"encoding/json"
	"io"
	"os"
	"time"
)

func main() {
	now := time.Now().UTC()
	body, _ := io.ReadAll(os.Stdin)
	agent := ""
	for i, a := range os.Args {
		if a == "--agent" && i+1 < len(os.Args) {
			agent = os.Args[i+1]
		}
	}
	line := map[string]any{"time": now.Format(time.RFC3339Nano), "agent": agent, "transcript_size": -1}
	var p struct {
		TranscriptPath string `json:"transcript_path"`
		HookEventName  string `json:"hook_event_name"`
	}
	_ = json.Unmarshal(body, &p)
	line["event"] = p.HookEventName
	if p.TranscriptPath != "" {
		if fi, err := os.Stat(p.TranscriptPath); err == nil {
			line["transcript_size"] = fi.Size()
		}
	}
	if json.Valid(body) {
		line["payload"] = json.RawMessage(body)
	} else {
		line["payload_text"] = string(body)
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	f, err := os.OpenFile(os.Getenv("WEAVE_HOOKLOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	f.Write(append(b, '\n'))
	f.Close()
}
