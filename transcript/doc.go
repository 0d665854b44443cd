// Package transcript reads Claude Code's transcript files and builds the
// session model weave's spans come from.
//
// Layout (see testdata/claude-code/FINDINGS.md at the repository root):
// ~/.claude/projects/<cwd with "/"→"-">/<session>.jsonl is the main
// transcript; <session>/subagents/agent-<id>.jsonl (+ .meta.json) are its
// subagents. Every line is one JSON object.
//
//   - Decoder streams lines: unknown kinds and fields are ignored, a
//     malformed line is skipped and counted, a partial last line is held
//     back, lines of many MiB are fine, reading resumes from a byte offset.
//   - Builder folds lines into a Session incrementally: turns (a user line
//     whose content is a prompt — a plain string or only text blocks — and
//     not meta, sidechain, a compaction summary or a local-command echo,
//     with a new promptId), LLM calls (assistant lines folded by
//     message.id), tool calls (tool_use paired with tool_result),
//     compactions.
//   - Link attaches subagents to the Agent call that spawned them.
//   - Resolver walks fork chains (forkedFrom, or shared line uuids).
//
// Files are opened O_NOFOLLOW and must be regular files (Open).
package transcript
