-- Schema version 6: the columns of the W&B attribute mapping that had none
-- (server/model.Span): total_tokens (reported, else input + output),
-- display_name, wb_run_id / wb_run_step, model_parameters (JSON object
-- text, NULL when none). Spans stored before get the computed total.
ALTER TABLE spans ADD COLUMN total_tokens INTEGER;
ALTER TABLE spans ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE spans ADD COLUMN wb_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE spans ADD COLUMN wb_run_step INTEGER;
ALTER TABLE spans ADD COLUMN model_parameters TEXT;
UPDATE spans SET total_tokens = COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)
    WHERE input_tokens IS NOT NULL OR output_tokens IS NOT NULL;
