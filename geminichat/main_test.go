package geminichat

import (
	"os"
	"testing"

	"github.com/weavetrace/weave/fuzztest"
)

func TestMain(m *testing.M) {
	fuzztest.ShortMinimization()
	os.Exit(m.Run())
}
