//go:build unix

package chlocal

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
)

// envNode marks a process started by Start as a node: its value is the
// path of the node's spec file. Any binary that imports this package (the
// chlocal command, a test binary) becomes a node when re-executed with
// it: init runs the node and exits before main (or TestMain) starts.
const envNode = "WEAVE_CHLOCAL_NODE"

// nodeSpec is what a node process needs, written by Start next to the
// node's data.
type nodeSpec struct {
	Lib  string   `json:"lib"`
	Args []string `json:"args"` // clickhouse-local's arguments, without argv[0]
	// ParentPID, when not 0, is the process that started the node: the
	// node kills its own process group once that process is gone, so a
	// test binary that dies (panic, timeout, SIGKILL) leaves no server
	// behind.
	ParentPID int `json:"parent_pid,omitempty"`
}

func init() {
	spec := os.Getenv(envNode)
	if spec == "" {
		return
	}
	os.Unsetenv(envNode)
	if err := runNode(spec); err != nil {
		fmt.Fprintln(os.Stderr, "chlocal node:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runNode loads libchdb.so and runs clickhouse-local with the spec's
// arguments; it returns only if clickhouse-local ends.
func runNode(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec nodeSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if spec.ParentPID != 0 {
		go watchParent(spec.ParentPID)
	}
	lib, err := purego.Dlopen(spec.Lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("load %s: %w", spec.Lib, err)
	}
	var query func(argc int32, argv unsafe.Pointer) unsafe.Pointer
	purego.RegisterLibFunc(&query, lib, "query_stable_v2")
	args := append([]string{"clickhouse"}, spec.Args...)
	bufs := make([][]byte, len(args))
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		bufs[i] = append([]byte(a), 0)
		argv[i] = &bufs[i][0]
	}
	res := query(int32(len(args)), unsafe.Pointer(&argv[0]))
	runtime.KeepAlive(bufs)
	runtime.KeepAlive(argv)
	if msg := resultError(res); msg != "" {
		return fmt.Errorf("clickhouse-local: %s", msg)
	}
	return fmt.Errorf("clickhouse-local ended")
}

// resultError reads error_message of chDB's struct local_result_v2
// {char *buf; size_t len; void *_vec; double elapsed; uint64_t rows_read;
// uint64_t bytes_read; char *error_message}.
func resultError(res unsafe.Pointer) string {
	if res == nil {
		return "no result"
	}
	msg := *(**byte)(unsafe.Add(res, 48))
	if msg == nil {
		return ""
	}
	var b []byte
	for p := unsafe.Pointer(msg); *(*byte)(p) != 0 && len(b) < 64<<10; p = unsafe.Add(p, 1) {
		b = append(b, *(*byte)(p))
	}
	return string(b)
}

// watchParent kills the node's process group (the node and anything it
// started) once its parent has gone: the node is then re-parented.
func watchParent(parent int) {
	for {
		if os.Getppid() != parent {
			syscall.Kill(-os.Getpid(), syscall.SIGKILL)
			os.Exit(1)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
