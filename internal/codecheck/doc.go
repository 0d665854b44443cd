// Package codecheck holds the repository's checks on its own code, run as
// tests with the rest (`go test ./internal/codecheck`):
//
//   - pkgdoc_test.go: every package has a doc comment, "// Package x ..."
//     (a main package: any doc comment, "// Command ..." by habit).
//
// The package has no code of its own beyond the tests.
package codecheck
