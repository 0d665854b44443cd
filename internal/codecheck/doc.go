// Package codecheck holds the repository's checks on its own code, run as
// tests with the rest (`go test ./internal/codecheck`):
//
//   - pkgdoc_test.go: every package has a doc comment, "// Package x ..."
//     (a main package: any doc comment, "// Command ..." by habit);
//   - funclen_test.go: no function of weave's three binaries (the packages
//     of this module that `go list -deps` gives for cmd/weave-hook,
//     cmd/weave-agentd and cmd/weave-server) is longer than 100 lines or of
//     a cyclomatic complexity over 25, unless its doc comment has a line
//     "// long: <why>". The functions over the limits today are listed in
//     testdata/long_functions.txt; the list may only shrink (`-update`
//     rewrites it, `make funclen` prints the ten longest functions).
//
// The package has no code of its own beyond the tests.
package codecheck
