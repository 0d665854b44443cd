package api

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain closes the benchmarks' shared store, then checks that no test
// left a goroutine behind (the SQLite tests open and close real stores).
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedAPI != nil {
		sharedAPI.st.Close()
		os.RemoveAll(sharedAPI.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
