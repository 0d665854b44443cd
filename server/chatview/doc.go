// Package chatview projects the spans of one trace (one turn) onto the chat
// view: the ordered list of things a person reads to understand what an
// agent did — the user's prompt, each agent section, every tool call, every
// assistant message and every context compaction. It also builds the
// conversation view: the turns of one conversation in order, each with its
// chat view and the session it ran in, so forks are visible.
//
// The functions are pure: no I/O, no goroutines, no clock. The algorithm
// follows the Weave server's chat_view (PRIOR_ART §2.5):
//
//  1. Build the span tree. A span whose parent is not in the set (or that is
//     its own parent, or sits on a parent cycle) becomes a synthetic root, so
//     nothing is dropped. Children are ordered by (no start time last,
//     started_at, span_id).
//  2. One user_message per trace: the last user text of the first span with
//     user input — root invoke_agent spans first, then every span by start
//     time (invoke_agent first on a tie, then shallower first).
//  3. A preorder walk emits, per span:
//     - invoke_agent: agent_start (when the span names its agent), then the
//     children; then the agent's own output as an assistant_message ONLY
//     when nothing beneath it emitted assistant text (its output mirrors its
//     child chat spans), with tokens summed over its subtree;
//     - execute_tool: tool_call, then the children;
//     - any other span: the children, then its own assistant_message when its
//     output carries assistant text or reasoning. An LLM call (chat,
//     generate_content, text_completion) also emits one when it only
//     requested tools, failed, or is still running, with empty text, so
//     every model call's tokens, duration and errors are visible.
//  4. context_compacted for each compaction on a span: one per
//     "weave.compaction" event, placed among the span's children by the
//     event's time; without such events, one from the compaction columns,
//     after an invoke_agent's children (at the span's own position for any
//     other span).
//  5. Calls of one agent (tool calls, subagents) whose time ranges overlap
//     share a ParallelGroup, so the chat view shows what ran at the same
//     time as the waterfall does.
//
// Token totals never count usage twice: a span's usage counts only if no
// descendant reports usage.
package chatview
