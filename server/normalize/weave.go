package normalize

import "github.com/weavetrace/weave/spans"

// weave-agentd's own keys: the compaction columns. Its other weave.* keys
// (weave.claude_code.*, weave.integration.*, …) are kept whole in the
// custom maps, exempt from the caps.
var weaveMapping = mapping{
	name: "weave",
	renames: []rename{
		{spans.KeyCompactionSummary, fCompactionSummary},
		{spans.KeyCompactionItemsBefore, fCompactionBefore},
		{spans.KeyCompactionItemsAfter, fCompactionAfter},
	},
	extract: func(c *spanCtx) {
		if c.scope.Name() == weaveScope {
			c.inputsInclusive = true // input = input + cache_read + cache_creation
		}
	},
}

// weaveScope is the instrumentation scope of weave-agentd's spans.
const weaveScope = spans.ScopeName

// W&B thread keys (seed 004): wandb.thread_id groups traces into a thread,
// wandb.is_turn marks the span that is one row of it.
var wandbMapping = mapping{
	name: "wandb",
	renames: []rename{
		{"wandb.thread_id", fThreadID},
		{"wandb.is_turn", fIsTurn},
	},
}
