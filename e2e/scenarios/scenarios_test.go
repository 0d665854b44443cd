package scenarios

import (
	"os"
	"strings"
	"testing"

	"github.com/weavetrace/weave/e2e/mockapi"
)

// Every script parses, and every script is served by some scenario.
func TestScripts(t *testing.T) {
	src, err := os.ReadFile("scenarios.go")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := scripts.ReadDir(".")
	if len(files) == 0 {
		t.Fatal("no scripts embedded")
	}
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), ".json")
		if _, err := mockapi.ParseScript(Script(name), map[string]string{"WORK": "/work"}); err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
		if !strings.Contains(string(src), `serve(s, "`+name+`")`) {
			t.Errorf("%s: no scenario serves it", f.Name())
		}
	}
}

func TestScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range All {
		if sc.Name == "" || sc.About == "" || sc.Run == nil || seen[sc.Name] {
			t.Errorf("scenario %+v: want a unique name, an About and a Run", sc)
		}
		seen[sc.Name] = true
		if got, ok := Get(sc.Name); !ok || got.Name != sc.Name {
			t.Errorf("Get(%s) = %v, %v", sc.Name, got.Name, ok)
		}
	}
	if _, ok := Get("nope"); ok {
		t.Error("Get(nope) found one")
	}
	if len(Names()) != len(All) {
		t.Error("Names")
	}
}
