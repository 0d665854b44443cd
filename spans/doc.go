// Package spans turns a transcript.Session into the OTel GenAI span tree
// weave emits for Claude Code (ARCHITECTURE §4): one trace per turn with an
// `invoke_agent claude-code` root, `chat <model>` per LLM call,
// `execute_tool <name>` per tool call and nested `invoke_agent <type>` per
// subagent. Ids are deterministic (package spanid), content can be redacted
// or left out (privacy.go), and every attribute key is named in package
// semconv. Sending spans over OTLP is daemon/export's job.
package spans
