package codecheck

import (
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every package of the module says what it is for in a doc comment, as
// Tailscale's pkgdoc_test asks of theirs: "// Package x ..." for a
// library, any doc comment for a main package. Every directory holding Go
// files is checked, whatever its build tags (the e2e packages build only
// with -tags e2e); test files, testdata and files never built
// (//go:build ignore) are not.
func TestPackageDocs(t *testing.T) {
	_, root := moduleRoot(t)
	pkgs, err := packageFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found %d packages under %s; the walk is broken", len(pkgs), root)
	}
	for _, dir := range slices.Sorted(maps.Keys(pkgs)) {
		files := pkgs[dir]
		rel, _ := filepath.Rel(root, dir)
		names := map[string]bool{}
		documented := false
		for _, f := range files {
			names[f.Name.Name] = true
			documented = documented || hasPackageDoc(f)
		}
		if len(names) != 1 {
			t.Errorf("%s: files of several packages %v", rel, slices.Sorted(maps.Keys(names)))
			continue
		}
		if documented {
			continue
		}
		if names["main"] {
			t.Errorf("%s: main package without a doc comment; add \"// Command <name> ...\" above `package main` in one file", rel)
		} else {
			t.Errorf("%s: package %s has no doc comment; add \"// Package %s ...\" above the package clause of one file (doc.go when it is more than a paragraph)", rel, files[0].Name.Name, files[0].Name.Name)
		}
	}
}

// hasPackageDoc reports whether f carries its package's doc comment: any
// for a main package, one starting "Package <name>" otherwise.
func hasPackageDoc(f *ast.File) bool {
	if f.Doc == nil {
		return false
	}
	text := strings.TrimSpace(f.Doc.Text())
	if f.Name.Name == "main" {
		return text != ""
	}
	rest, ok := strings.CutPrefix(text, "Package "+f.Name.Name)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\n')
}

// packageFiles parses (package clause and comments only) every non-test Go
// file under root that some build could compile, by directory.
func packageFiles(root string) (map[string][]*ast.File, error) {
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if neverBuilt(f) {
			return nil
		}
		pkgs[filepath.Dir(p)] = append(pkgs[filepath.Dir(p)], f)
		return nil
	})
	return pkgs, err
}

// neverBuilt reports whether f's build constraint is the "ignore" idiom
// (a generator run with go run, not part of its directory's package).
func neverBuilt(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			tag, ok := expr.(*constraint.TagExpr)
			return err == nil && ok && tag.Tag == "ignore"
		}
	}
	return false
}

func TestHasPackageDoc(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      bool
	}{
		{"library", "// Package x reads things.\npackage x\n", true},
		{"library, one word", "// Package x\npackage x\n", true},
		{"another package's name", "// Package xy reads things.\npackage x\n", false},
		{"not the package form", "// Reads things.\npackage x\n", false},
		{"no comment", "package x\n", false},
		{"comment apart from the clause", "// Package x reads things.\n\npackage x\n", false},
		{"build tag, then the doc", "//go:build e2e\n\n// Package x reads things.\npackage x\n", true},
		{"main", "// Command y does things.\npackage main\n", true},
		{"main without a comment", "package main\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), "x.go", tc.src, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if got := hasPackageDoc(f); got != tc.want {
				t.Errorf("hasPackageDoc(%q) = %v, want %v", tc.src, got, tc.want)
			}
		})
	}
}

func TestNeverBuilt(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"//go:build ignore\n\npackage main\n", true},
		{"//go:build e2e\n\npackage x\n", false},
		{"//go:build !linux\n\npackage x\n", false},
		{"package x\n", false},
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "x.go", tc.src, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if got := neverBuilt(f); got != tc.want {
			t.Errorf("neverBuilt(%q) = %v, want %v", tc.src, got, tc.want)
		}
	}
}
