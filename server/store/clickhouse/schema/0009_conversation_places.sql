-- weave schema, version 9: where each conversation last ran (store package
-- doc: ConversationSummary.WorkingDir / GitBranch). span_state keeps each
-- span's weave.claude_code.cwd and git_branch; conv_traces keeps those of
-- the trace's latest span in the conversation that records either, with
-- its start and span_id, so that the conversation's latest wins. Rows
-- written before this version read '': their conversations show a place
-- once a turn is written after the upgrade.
{{addColumns "span_state" "working_dir String DEFAULT ''" "git_branch String DEFAULT ''"}};

{{addColumns "conv_traces" "working_dir String DEFAULT ''" "git_branch String DEFAULT ''" "place_ns Int64 DEFAULT 0" "place_span_id String DEFAULT ''"}};
