-- weave schema, version 2: turns (store package doc, turn rule).
-- span_state keeps each span's is_turn and whether it is a turn span (no
-- is_turn ancestor); conv_traces counts a trace's turn spans in each
-- conversation. Rows written before this version read 0: their spans
-- count as not is_turn until they are written again, which is how the
-- earlier version counted them (one turn per trace).
{{addColumns "span_state" "is_turn UInt8 DEFAULT 0" "turn_root UInt8 DEFAULT 0"}};

{{addColumns "conv_traces" "turn_spans Int64 DEFAULT 0"}};
