// Package serverproc runs weave-server as a process for the benchmark
// programs (make bench-ingest-memory, make bench-ingest-sqlite): build it,
// start it on a free loopback port, post OTLP requests as an exporter
// does, and read the process's figures from /proc (Linux only).
package serverproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Build builds ./cmd/weave-server (run from the repository root) into dir
// and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "weave-server")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/weave-server").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/weave-server: %v\n%s", err, out)
	}
	return bin, nil
}

// Server is a running weave-server.
type Server struct {
	Cmd  *exec.Cmd
	Base string // http://127.0.0.1:port
	Logs LogBuffer
}

// Start runs bin serve on a free loopback port with the embedded store in
// dataDir, no API keys, and the extra flags and environment, and waits
// until it is ready. The server picks the port (--addr 127.0.0.1:0) and
// logs it: a port found free, closed and passed on could be taken by
// another process first.
func Start(bin, dataDir string, flags, env []string) (*Server, error) {
	s := &Server{}
	s.Cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "off", "--data-dir", dataDir}, flags...)...)
	s.Cmd.Env = append(append(os.Environ(), "WEAVE_API_KEYS="), env...)
	s.Cmd.Stdout, s.Cmd.Stderr = &s.Logs, &s.Logs
	if err := s.Cmd.Start(); err != nil {
		return nil, err
	}
	if err := s.waitReady(time.Minute); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.Logs.String())
	}
	return s, nil
}

// Stop interrupts the server (a graceful shutdown) and waits for it.
func (s *Server) Stop() error {
	_ = s.Cmd.Process.Signal(os.Interrupt)
	return s.Cmd.Wait()
}

func (s *Server) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		if s.Base == "" {
			if addr, _, ok := Started(s.Logs.String()); ok {
				s.Base = "http://" + addr
			}
		}
		if s.Base != "" {
			resp, err := http.Get(s.Base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("weave-server did not become ready")
}

// Started reads the addresses weave-server listens on from its log's
// "weave-server started" line: HTTP, and OTLP/gRPC ("off" when off).
// ok is false before that line. Start a server on port 0 (--addr
// 127.0.0.1:0, --grpc-addr 127.0.0.1:0) and read its ports here rather than
// passing it a port found free: another process can take that port first.
func Started(log string) (addr, grpcAddr string, ok bool) {
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `msg="weave-server started"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, found := strings.CutPrefix(f, "addr="); found {
				addr = v
			}
			if v, found := strings.CutPrefix(f, "grpc_addr="); found {
				grpcAddr = v
			}
		}
		return addr, grpcAddr, addr != ""
	}
	return "", "", false
}

// LogBuffer is a process's output, read while the process writes it.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StoredSpans reads the weave_store_spans gauge.
func (s *Server) StoredSpans(client *http.Client) (int64, error) {
	resp, err := client.Get(s.Base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "weave_store_spans "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no weave_store_spans in /metrics")
}

// Status reads a kB figure (VmRSS, VmHWM) of the process's
// /proc/PID/status.
func (s *Server) Status(field string) (int64, error) {
	pid := s.Cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// CPU is the user + system CPU seconds the process has used so far.
func (s *Server) CPU() (float64, error) {
	pid := s.Cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// utime and stime are the 14th and 15th fields, in clock ticks (100 a
	// second on Linux); the command name before them is parenthesized.
	st := string(b)
	f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	sys, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (u + sys) / 100, nil
}

// Send posts an OTLP/protobuf trace request until it is answered, waiting
// Retry-After on 429 and 503 as an OTLP exporter does (counted in
// refused), and returns the spans the answer rejected.
func Send(client *http.Client, url string, body []byte, refused *atomic.Int64) (int, error) {
	for attempt := 0; ; attempt++ {
		resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			r := ptraceotlp.NewExportResponse()
			if err := r.UnmarshalProto(msg); err != nil {
				return 0, fmt.Errorf("response: %w", err)
			}
			return int(r.PartialSuccess().RejectedSpans()), nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			refused.Add(1)
			wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || wait <= 0 {
				wait = 1
			}
			if attempt > 600 {
				return 0, fmt.Errorf("still refused after %d attempts", attempt)
			}
			time.Sleep(time.Duration(wait) * time.Second)
		default:
			return 0, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
		}
	}
}
