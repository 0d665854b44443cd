// Command weave-agentd is a weave binary (see docs/ARCHITECTURE.md).
package main

func main() {}
