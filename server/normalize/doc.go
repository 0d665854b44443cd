// Package normalize turns OTLP spans from any GenAI instrumentation into
// weave-server's canonical rows (model.Span): one row per OTel span, every
// column filled through an ordered fallback chain of attribute names.
//
// Normalize is a pure transform of one ptrace.ResourceSpans. It never
// fails as a whole: a span that cannot be stored (no trace or span id, no
// start time, no project) is left out with a Rejected Warning, and a bad
// value costs only that value (a Warning says which).
//
// # Fallback chains
//
// Each producer's mapping lives in its own file as a table of attribute
// renames plus a little code (weave.go, genai.go, anthropic.go,
// openinference.go, traceloop.go, aisdk.go, mlflow.go, adk.go, openlit.go,
// langfuse.go, logfire.go, openaiagents.go, mastra.go, generic.go). The
// mappings run in the order of the mappings slice (fields.go) and a column
// takes the first value found: Weave's weave.* names (canonical in Weave's
// conventions, so they win over their gen_ai.* aliases) and weave-agentd's
// own keys, the W&B keys (wandb.thread_id, wandb.is_turn,
// wandb.display_name, wb_run_id / wb_run_step), then the OTel GenAI
// conventions (current names, then the pre-1.37 ones, the flattened
// gen_ai.prompt.{i}.* form and the event forms), then OpenInference,
// Traceloop, the AI SDK, MLflow, ADK, OpenLIT, Langfuse, Logfire /
// pydantic-ai, the OpenAI Agents SDK bridges, Mastra and last generic
// input / output keys. The operation falls back to the span-name prefix
// ("chat …", "invoke_agent …"), the agent and tool names to the text after
// it. Provider names are lower-cased and mapped onto the conventions'
// values ("openai.chat" → "openai"; a framework named as the system, like
// ADK's "gcp.vertex.agent", is not a provider). Finish reasons are mapped
// onto stop / length / content_filter / tool_call / error.
//
// # Messages
//
// Every message format becomes the parts schema (model.Message, model.Part):
// the OTel parts schema itself (tool_call_response accepts "response" and
// "result"), OpenAI chat messages and Responses items, Anthropic content
// blocks, AI SDK messages, Gemini contents, Bedrock converse blocks,
// LangChain serialized messages and OpenInference's flattened messages.
// Content that only arrives as OTLP log records (the OTel openai
// instrumentation) is read from Options.ExtraEvents; EventsFromLogs turns
// log records into such events and Renormalize applies late ones to a
// stored span.
//
// # Tokens
//
// input_tokens follows the conventions: it includes cached input. When a
// producer reports Anthropic's disjoint figures (Traceloop, OpenLIT and
// Langfuse do; the Anthropic SDK's own span, OpenInference and
// weave-agentd already sum them) the cache read and creation figures are
// added; so they are whenever input_tokens is smaller than them, which an
// inclusive count cannot be. cache_creation and the newer cache_write name
// feed the same column. Usage a producer did not report stays nil: it is
// never estimated (a streamed call without usage keeps none). total_tokens
// is the reported total, else input + output when either was reported.
// model_parameters collects the request's generation parameters.
// docs/normalization.md lists every row of the W&B mapping with its column.
//
// # Everything else
//
// Attributes no mapping consumed go to the four typed custom maps: nested
// maps flattened to dotted keys, lists kept as JSON text, NaN and
// infinities dropped, at most Options.MaxCustomAttrs keys per span and
// Options.MaxCustomValueBytes per string (cut values end with
// TruncationMarker; weave.* keys are exempt). The instrumentation scope is
// kept as otel.scope.name / otel.scope.version, the resource attributes in
// resource_attrs and the whole span, as received, in raw_span (OTLP/JSON).
// Project routing: resource attributes wandb.entity + wandb.project give
// "entity/project", else Options.DefaultProject.
package normalize
