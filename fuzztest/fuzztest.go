// Package fuzztest holds what the fuzz targets of several packages share.
package fuzztest

import "flag"

// DefaultMinimizeTime is how long the fuzzer minimizes each new input
// when -test.fuzzminimizetime is not given (Go's default is 60 s).
const DefaultMinimizeTime = "1s"

// ShortMinimization sets -test.fuzzminimizetime to DefaultMinimizeTime
// unless the command line sets it; call it from TestMain before m.Run.
//
// Go's fuzzer minimizes every input that finds new coverage, one execution
// per candidate, and its byte minimizer tries every subrange: millions of
// executions for a 2 KB request. Targets that find new coverage every few
// hundred executions (an OTLP handler, the normalizer) then spent a whole
// `-fuzztime=30s` run in their first minimizations and reported 0
// executions a second.
func ShortMinimization() {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		_ = flag.Set("test.fuzzminimizetime", DefaultMinimizeTime)
	}
}
