// Command weave-server is a weave binary (see docs/ARCHITECTURE.md).
package main

func main() {}
