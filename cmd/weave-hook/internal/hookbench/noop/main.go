// Command noop stands in for weave-agentd in the "daemon down" benchmark:
// the hook starts it (so the start cost is measured) and it exits at once,
// leaving the next event to find no daemon again.
package main

func main() {}
