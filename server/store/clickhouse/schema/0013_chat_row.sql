-- weave schema, version 13: a chat view's spans in fewer columns.
--
-- chat_row holds, in one value, the columns of spans a chat read returns
-- but the keys and the message columns (codec.go, chatRowCols; the same
-- order): RowBinary of them, computed by ClickHouse from the row itself,
-- so the writer sends nothing more and a row replaced by a newer version
-- carries its own. A read of a few spans costs ClickHouse per column read
-- (a file opened, a block decompressed, its share of planning), not per
-- byte: at 1M spans a turn's spans read 40 columns for 16–18 ms of CPU,
-- 11 of them (chat_row among them) for 8–10 ms (README, Reads: measured).
-- Parts written before this version compute it when read, until the
-- mutation below has written it into them.
{{addColumns "spans" "chat_row String DEFAULT formatRow('RowBinary', parent_span_id, span_name, ended_at, status_code, status_message, operation_name, provider_name, agent_name, agent_id, agent_version, conversation_id, request_model, response_model, input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, finish_reasons, tool_name, tool_type, tool_call_id, error_type, compaction_summary, compaction_items_before, compaction_items_after, is_turn, custom_attrs_string, custom_attrs_int, cost_nanos) CODEC(ZSTD(1))"}};

ALTER TABLE {{local "spans"}}{{on}} MATERIALIZE COLUMN chat_row;
