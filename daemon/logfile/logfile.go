// Package logfile is a size-bounded, append-only log file for weave-agentd:
// when a write would take the file past its cap, the file is renamed to
// <name>.1 (replacing the previous copy) and a new one begun, so the logs
// never use more than about twice the cap.
package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// File is safe for concurrent use (slog handlers write from any goroutine).
type File struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

// Open opens (creating, 0600) path for appending, capped at max bytes.
func Open(path string, max int64) (*File, error) {
	if max <= 0 {
		return nil, fmt.Errorf("logfile: cap %d: want > 0", max)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("logfile: %w", err)
	}
	lf := &File{path: path, max: max}
	if err := lf.open(); err != nil {
		return nil, err
	}
	return lf, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("logfile: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("logfile: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first if p would not fit. A single write
// larger than the cap is written whole into a fresh file.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *File) rotate() error {
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("logfile: rotate: %w", err)
	}
	return l.open()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
