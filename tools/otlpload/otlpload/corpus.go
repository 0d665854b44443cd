package otlpload

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
)

// vocabulary is what the pseudo text is made of: prose, Go and shell
// words, roughly what model replies and tool output hold.
var vocabulary = strings.Fields(`
the a an of to in and or for with on at by from into over under this that it is are was be
will would should can may must not no if then else when while return func type struct package
import var const map chan go defer select case default range nil true false err error string
int int64 byte context ctx span trace server handler request response store query insert update
delete table index schema migrate test tests failed passed ok build run file files path dir read
write open close sync flush commit rollback tool model token tokens cache usage input output
message assistant user system agent turn session conversation id value key attribute otlp http
json proto batch queue worker retry timeout deadline latency throughput memory cpu disk bytes
rows column filter sort limit offset cursor page next first last count total sum max min let me
check look see now fix change add remove rename refactor function method field call caller line
diff patch git branch main client hook daemon config flag option because since so but also just
only still already again here there which goroutine mutex channel lock unlock panic recover
`)

// corpusSize is the length of the pseudo text bodies are cut from.
const corpusSize = 4 << 20

var (
	corpusOnce sync.Once
	corpusText string
)

// corpus is about 4 MB of pseudo text with punctuation, code-like tokens
// and line breaks, the same on every run (a fixed seed), so that loads
// compress alike.
func corpus() string {
	corpusOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		var b strings.Builder
		b.Grow(corpusSize + 64)
		line := 0
		for b.Len() < corpusSize {
			w := vocabulary[r.IntN(len(vocabulary))]
			switch k := r.IntN(100); {
			case k < 3:
				w += "(" + vocabulary[r.IntN(len(vocabulary))] + ")"
			case k < 6:
				w += "." + strings.ToUpper(w[:1]) + w[1:]
			case k < 8:
				w += "_" + vocabulary[r.IntN(len(vocabulary))]
			case k < 10:
				w += ":" + strconv.Itoa(r.IntN(5000))
			}
			b.WriteString(w)
			line += len(w) + 1
			switch k := r.IntN(100); {
			case line > 60 && k < 20:
				b.WriteByte('\n')
				if r.IntN(4) == 0 {
					b.WriteByte('\t')
				}
				line = 0
			case k < 8:
				b.WriteString(", ")
			case k < 12:
				b.WriteString(". ")
			default:
				b.WriteByte(' ')
			}
		}
		corpusText = b.String()
	})
	return corpusText
}
