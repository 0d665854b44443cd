-- weave schema, version 3: the columns of the W&B attribute mapping that
-- had none (server/model.Span). total_tokens defaults to the computed
-- total, so rows written before this version read input + output (where
-- either was reported); model_parameters is a JSON object, '' for none.
{{addColumns "spans" "total_tokens Nullable(Int64) DEFAULT if(isNull(input_tokens) AND isNull(output_tokens), NULL, ifNull(input_tokens, 0) + ifNull(output_tokens, 0))" "display_name String DEFAULT ''" "wb_run_id String DEFAULT ''" "wb_run_step Nullable(Int64)" "model_parameters String DEFAULT '' CODEC(ZSTD(3))"}};
