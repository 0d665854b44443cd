package codecheck

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var (
	update  = flag.Bool("update", false, "rewrite testdata/long_functions.txt with the functions over the limits today")
	longest = flag.Bool("longest", false, "print the ten longest and the ten most complex functions (make funclen)")
)

// The limits: a function a reader does not have to scroll, with few
// enough paths to hold in mind.
const (
	maxLines      = 100
	maxComplexity = 25
	// longMarker opens a line of a doc comment saying why the function
	// may exceed the limits.
	longMarker = "long:"
	allowlist  = "testdata/long_functions.txt"
)

// binaries are the commands whose packages are checked.
var binaries = []string{"./cmd/weave-hook", "./cmd/weave-agentd", "./cmd/weave-server"}

// funcInfo is one function or method of a production package.
type funcInfo struct {
	name       string // package path relative to the module, then .Func or .Type.Method
	pos        string // file:line, relative to the module
	lines      int    // from the func keyword to the closing brace
	complexity int
	excused    bool // its doc comment says why (longMarker)
}

func (f funcInfo) long() bool { return f.lines > maxLines || f.complexity > maxComplexity }

// No production function is longer than maxLines or more complex than
// maxComplexity unless its doc comment says why, in a line starting with
// "long:". The functions over the limits when the check came in are in
// testdata/long_functions.txt, each with its size then; a function there
// fails the test once it is no longer long (take it off: the list only
// shrinks) or when it grows. -update rewrites the list from the code.
func TestFunctionLength(t *testing.T) {
	fns := productionFuncs(t)
	if *longest {
		printLongest(fns)
	}
	if *update {
		var offenders []funcInfo
		for _, f := range fns {
			if f.long() && !f.excused {
				offenders = append(offenders, f)
			}
		}
		writeAllowlist(t, offenders)
		return
	}
	for _, p := range lengthProblems(fns, readAllowlist(t)) {
		t.Error(p)
	}
}

// lengthProblems checks the functions against the limits and the
// allowlist.
func lengthProblems(fns []funcInfo, allowed map[string]funcInfo) []string {
	var out []string
	byName := map[string]funcInfo{}
	for _, f := range fns {
		byName[f.name] = f
		if !f.long() || f.excused {
			continue
		}
		was, ok := allowed[f.name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s %s: %d lines, complexity %d (limits %d, %d): split it, or say why in a %q line of its doc comment",
				f.pos, f.name, f.lines, f.complexity, maxLines, maxComplexity, "// "+longMarker))
		case f.lines > was.lines || f.complexity > was.complexity:
			out = append(out, fmt.Sprintf("%s %s grew to %d lines, complexity %d (listed in %s at %d, %d): the list records what is left to split, not room to grow",
				f.pos, f.name, f.lines, f.complexity, allowlist, was.lines, was.complexity))
		}
	}
	names := make([]string, 0, len(allowed))
	for name := range allowed {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, ok := byName[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s lists %s, which no longer exists: take it off (go test ./internal/codecheck -update)", allowlist, name))
		case !f.long() || f.excused:
			out = append(out, fmt.Sprintf("%s %s is no longer over the limits (%d lines, complexity %d) or says why: take it off %s (go test ./internal/codecheck -update)",
				f.pos, name, f.lines, f.complexity, allowlist))
		}
	}
	return out
}

// productionFuncs measures every function declared in the module's
// packages that the binaries link (generated files aside).
func productionFuncs(t *testing.T) []funcInfo {
	t.Helper()
	modPath, root := moduleRoot(t)
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles \",\"}}{{end}}"}, binaries...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	var fns []funcInfo
	for _, line := range strings.Fields(string(out)) {
		parts := strings.Split(line, "|")
		if len(parts) != 3 || (parts[0] != modPath && !strings.HasPrefix(parts[0], modPath+"/")) {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(parts[0], modPath), "/")
		if pkg == "" {
			pkg = "."
		}
		for _, name := range strings.Split(parts[2], ",") {
			path := filepath.Join(parts[1], name)
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if ast.IsGenerated(f) {
				continue
			}
			rel, _ := filepath.Rel(root, path)
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
					start := fset.Position(fd.Type.Func)
					fns = append(fns, funcInfo{
						name:       pkg + "." + funcName(fd),
						pos:        fmt.Sprintf("%s:%d", rel, start.Line),
						lines:      fset.Position(fd.End()).Line - start.Line + 1,
						complexity: complexity(fd.Body),
						excused:    saysWhy(fd.Doc),
					})
				}
			}
		}
	}
	seen := map[string]int{}
	for i := range fns { // init may be declared more than once
		if seen[fns[i].name]++; seen[fns[i].name] > 1 {
			fns[i].name += "#" + strconv.Itoa(seen[fns[i].name])
		}
	}
	if len(fns) < 100 {
		t.Fatalf("measured %d functions; the package listing is broken", len(fns))
	}
	return fns
}

// funcName is Func, or Type.Method for a method (pointer receiver or not,
// type parameters dropped).
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// complexity is the cyclomatic complexity of a function body as gocyclo
// counts it: 1, plus one per if, for, range, non-default case of a switch
// or select, && and ||. Function literals count toward the function they
// are in.
func complexity(body *ast.BlockStmt) int {
	c := 1
	ast.Inspect(body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if x.List != nil {
				c++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// saysWhy reports whether a doc comment has a line "// long: <why>".
func saysWhy(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, c := range doc.List {
		text := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
		if why, ok := strings.CutPrefix(text, longMarker); ok && strings.TrimSpace(why) != "" {
			return true
		}
	}
	return false
}

// The allowlist holds one function per line: name, lines, complexity.
// Lines starting with # are comments.
func readAllowlist(t *testing.T) map[string]funcInfo {
	t.Helper()
	b, err := os.ReadFile(allowlist)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]funcInfo{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("%s:%d: %q: want <function> <lines> <complexity>", allowlist, n, line)
		}
		lines, err1 := strconv.Atoi(f[1])
		cx, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s:%d: %q: lines and complexity must be numbers", allowlist, n, line)
		}
		if _, dup := out[f[0]]; dup {
			t.Fatalf("%s:%d: %s listed twice", allowlist, n, f[0])
		}
		out[f[0]] = funcInfo{name: f[0], lines: lines, complexity: cx}
	}
	return out
}

func writeAllowlist(t *testing.T, fns []funcInfo) {
	t.Helper()
	sort.Slice(fns, func(i, j int) bool { return fns[i].name < fns[j].name })
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Functions of weave's binaries over %d lines or complexity %d, with neither\n", maxLines, maxComplexity)
	fmt.Fprintf(&b, "# split nor a %q line saying why: what is left to do. The list may only\n", "// "+longMarker)
	b.WriteString("# shrink (TestFunctionLength); regenerate with go test ./internal/codecheck -update.\n")
	b.WriteString("# function lines complexity\n")
	for _, f := range fns {
		fmt.Fprintf(&b, "%s %d %d\n", f.name, f.lines, f.complexity)
	}
	if err := os.WriteFile(allowlist, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// printLongest prints the ten longest and the ten most complex functions.
func printLongest(fns []funcInfo) {
	show := func(title string, less func(a, b funcInfo) bool) {
		s := append([]funcInfo(nil), fns...)
		sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
		fmt.Printf("%s\n%6s %10s  %s\n", title, "lines", "complexity", "function")
		for _, f := range s[:min(10, len(s))] {
			mark := ""
			if f.excused {
				mark = "  (says why)"
			}
			fmt.Printf("%6d %10d  %s  %s%s\n", f.lines, f.complexity, f.name, f.pos, mark)
		}
	}
	show("The ten longest functions", func(a, b funcInfo) bool {
		return a.lines > b.lines || (a.lines == b.lines && a.name < b.name)
	})
	fmt.Println()
	show("The ten most complex functions", func(a, b funcInfo) bool {
		return a.complexity > b.complexity || (a.complexity == b.complexity && a.name < b.name)
	})
}

func TestLengthProblems(t *testing.T) {
	short := funcInfo{name: "p.short", lines: 10, complexity: 3}
	long := funcInfo{name: "p.long", lines: 150, complexity: 10}
	complex := funcInfo{name: "p.complex", lines: 50, complexity: 30}
	excused := funcInfo{name: "p.excused", lines: 300, complexity: 60, excused: true}
	listed := func(fs ...funcInfo) map[string]funcInfo {
		m := map[string]funcInfo{}
		for _, f := range fs {
			m[f.name] = f
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		fns     []funcInfo
		allowed map[string]funcInfo
		want    []string // a word of each problem, in order
	}{
		{"within the limits", []funcInfo{short, excused}, nil, nil},
		{"too long, not listed", []funcInfo{short, long}, nil, []string{"p.long: 150 lines"}},
		{"too complex, not listed", []funcInfo{complex}, nil, []string{"p.complex: 50 lines, complexity 30"}},
		{"listed", []funcInfo{long, complex}, listed(long, complex), nil},
		{"listed, shrank but still long", []funcInfo{{name: "p.long", lines: 120, complexity: 10}}, listed(long), nil},
		{"listed, grew", []funcInfo{{name: "p.long", lines: 151, complexity: 10}}, listed(long), []string{"grew to 151 lines"}},
		{"listed, more complex", []funcInfo{{name: "p.complex", lines: 50, complexity: 31}}, listed(complex), []string{"grew to 50 lines, complexity 31"}},
		{"listed, split since", []funcInfo{short, {name: "p.long", lines: 99, complexity: 25}}, listed(long), []string{"p.long is no longer over the limits"}},
		{"listed, says why since", []funcInfo{{name: "p.long", lines: 150, complexity: 10, excused: true}}, listed(long), []string{"p.long is no longer over the limits"}},
		{"listed, gone", []funcInfo{short}, listed(long), []string{"lists p.long, which no longer exists"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lengthProblems(tc.fns, tc.allowed)
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.Contains(got[i], tc.want[i])
			}
			if !ok {
				t.Errorf("got %q, want problems containing %q", got, tc.want)
			}
		})
	}
}

func TestComplexityAndMarker(t *testing.T) {
	const src = `package p

// f is long.
//
// long: a table of cases read top to bottom
func f(a, b bool, xs []int, ch chan int) {
	if a && b || !a {
	}
	for i := 0; i < 3; i++ {
	}
	for range xs {
	}
	switch {
	case a:
	case b:
	default:
	}
	select {
	case <-ch:
	default:
	}
	_ = func() {
		if a {
		}
	}
}

// g says nothing of why.
// long:
func g() {}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	fd, gd := f.Decls[0].(*ast.FuncDecl), f.Decls[1].(*ast.FuncDecl)
	// 1 + if + && + || + for + range + 2 cases + 1 comm clause + the literal's if
	if got := complexity(fd.Body); got != 10 {
		t.Errorf("complexity(f) = %d, want 10", got)
	}
	if !saysWhy(fd.Doc) || saysWhy(gd.Doc) {
		t.Errorf("saysWhy: f %v, g %v; want true (a reason), false (none given)", saysWhy(fd.Doc), saysWhy(gd.Doc))
	}
}
