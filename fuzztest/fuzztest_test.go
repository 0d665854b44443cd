package fuzztest

import (
	"flag"
	"testing"
)

func TestShortMinimization(t *testing.T) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	before := flag.Lookup("test.fuzzminimizetime").Value.String()
	ShortMinimization()
	got := flag.Lookup("test.fuzzminimizetime").Value.String()
	switch {
	case set && got != before:
		t.Errorf("-test.fuzzminimizetime given as %q became %q, want it kept", before, got)
	case !set && got != DefaultMinimizeTime:
		t.Errorf("-test.fuzzminimizetime = %q, want %q", got, DefaultMinimizeTime)
	}
}
