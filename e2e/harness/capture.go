package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// CaptureRecord is one line of a recording's hooks.jsonl (testdata/README.md):
// the hook's receipt time, its event and payload, and what the transcript
// files held when it ran. The replay tests cut the transcripts back to
// those sizes before they deliver the hook.
type CaptureRecord struct {
	TS      string          `json:"ts"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	// Transcript is transcript_path's state; Agent is the subagent's
	// transcript (agent_transcript_path, else where Claude Code writes a
	// subagent's file when the payload carries only agent_id).
	Transcript *FileState `json:"transcript_state,omitempty"`
	Agent      *FileState `json:"agent_transcript_state,omitempty"`
}

// FileState is what a transcript file held when a hook ran.
type FileState struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	Bytes  int64  `json:"bytes,omitempty"`
}

// CaptureHook is the recording hook (`ccharness capture-hook FILE`, which
// Config.CaptureCommand registers): it reads one hook payload from stdin
// and appends its CaptureRecord to file, in one write so hooks running at
// once never interleave. It prints nothing, as an observe-only hook must.
func CaptureHook(stdin io.Reader, file string, now time.Time) error {
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("harness: capture: %w", err)
	}
	var p struct {
		Event          string `json:"hook_event_name"`
		SessionID      string `json:"session_id"`
		TranscriptPath string `json:"transcript_path"`
		AgentPath      string `json:"agent_transcript_path"`
		AgentID        string `json:"agent_id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("harness: capture: payload: %w", err)
	}
	rec := CaptureRecord{TS: now.UTC().Format(time.RFC3339Nano), Event: p.Event, Payload: json.RawMessage(body),
		Transcript: stateOf(p.TranscriptPath)}
	agent := p.AgentPath
	if agent == "" && p.AgentID != "" && p.TranscriptPath != "" {
		agent = filepath.Join(filepath.Dir(p.TranscriptPath), p.SessionID, "subagents", "agent-"+p.AgentID+".jsonl")
	}
	rec.Agent = stateOf(agent)
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("harness: capture: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("harness: capture: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func stateOf(path string) *FileState {
	if path == "" {
		return nil
	}
	st := &FileState{Path: path}
	if fi, err := os.Stat(path); err == nil {
		st.Exists, st.Bytes = true, fi.Size()
	}
	return st
}
