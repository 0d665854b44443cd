package mockapi

// Usage estimation. A prompt costs about one token per 4 bytes of its
// system, messages and tools. Each conversation (the main agent per
// session, each subagent) keeps its cache: its first request writes all
// but a few tokens to the cache, a later one reads what the previous one
// held and writes the growth; side requests are uncached. Cache writes
// go to the 1-hour lifetime when the request's breakpoints ask for it
// (Claude Code's do), else to the 5-minute one.

const (
	bytesPerToken  = 4
	uncachedTail   = 3  // input_tokens of a cached request
	toolUseTokens  = 15 // output tokens of a tool_use beyond its input
	minOutputToken = 1
)

// promptTokens estimates a request's prompt size in tokens.
func promptTokens(r *Request) int64 {
	n := len(r.System)
	for _, m := range r.Messages {
		n += len(m.Content) + len(m.Role)
	}
	for _, t := range r.Tools {
		n += len(t)
	}
	return max(1, int64((n+bytesPerToken-1)/bytesPerToken))
}

// outputTokens estimates the tokens of the scripted content.
func outputTokens(content []Block) int64 {
	var n int64
	for _, b := range content {
		switch b.Type {
		case "text":
			n += int64((len(b.Text) + bytesPerToken - 1) / bytesPerToken)
		case "thinking":
			n += int64((len(b.Thinking) + bytesPerToken - 1) / bytesPerToken)
		case "tool_use":
			n += toolUseTokens + int64(len(b.Input)/bytesPerToken)
		}
	}
	return max(minOutputToken, n)
}

// estimateUsage is the usage of a request of total prompt tokens whose
// conversation had cached tokens before (0: none); it returns the usage
// and what the conversation has cached after it.
func estimateUsage(total, cached int64, cacheable, oneHour bool, out int64) (apiUsage, int64) {
	var u apiUsage
	u.OutputTokens = out
	u.ServiceTier = "standard"
	switch {
	case !cacheable:
		u.InputTokens = total
		return u, cached
	case cached > 0 && cached <= total:
		u.CacheReadInputTokens = cached
		u.InputTokens = min(uncachedTail, total-cached)
	default: // a new conversation, or one whose prompt shrank (compacted)
		u.InputTokens = min(uncachedTail, total)
	}
	u.CacheCreationInputTokens = total - u.InputTokens - u.CacheReadInputTokens
	u.splitCacheCreation(oneHour)
	return u, total
}

func (u *apiUsage) splitCacheCreation(oneHour bool) {
	u.CacheCreation.Ephemeral1hInputTokens, u.CacheCreation.Ephemeral5mInputTokens = 0, 0
	if oneHour {
		u.CacheCreation.Ephemeral1hInputTokens = u.CacheCreationInputTokens
	} else {
		u.CacheCreation.Ephemeral5mInputTokens = u.CacheCreationInputTokens
	}
}

// override applies a step's usage fields. A new cache-write total without
// a split goes to the request's lifetime; a split without a total sets
// the total to its sum.
func (u *apiUsage) override(o *Usage, oneHour bool) {
	if o == nil {
		return
	}
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.InputTokens, o.InputTokens)
	set(&u.OutputTokens, o.OutputTokens)
	set(&u.CacheReadInputTokens, o.CacheReadInputTokens)
	set(&u.CacheCreationInputTokens, o.CacheCreationInputTokens)
	if o.CacheCreation == nil {
		u.splitCacheCreation(oneHour)
		return
	}
	set(&u.CacheCreation.Ephemeral5mInputTokens, o.CacheCreation.Ephemeral5mInputTokens)
	set(&u.CacheCreation.Ephemeral1hInputTokens, o.CacheCreation.Ephemeral1hInputTokens)
	if o.CacheCreationInputTokens == nil {
		u.CacheCreationInputTokens = u.CacheCreation.Ephemeral5mInputTokens + u.CacheCreation.Ephemeral1hInputTokens
	}
}
