//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// The hook talks to the daemon with plain socket system calls rather than
// package net: net's initialisation and its poller cost about a
// millisecond per process, which is as much as the whole hook may add to
// a tool call. Each blocking call is bounded by SO_SNDTIMEO / SO_RCVTIMEO
// set to what is left of the deadline.

// errNoDaemon: nobody listens on the socket (absent, or a dead daemon's
// file). The hook starts a daemon.
var errNoDaemon = errors.New("weave-hook: no daemon listening")

// errForeignPeer: the socket, or the process listening on it, is not this
// user's. Nothing is sent; the event is dropped (the inbox beside such a
// socket is not ours to write either).
var errForeignPeer = errors.New("weave-hook: the socket is not this user's")

// exchange sends req on the Unix socket at path, half-closes, and returns
// the HTTP status code of the answer, all before deadline. It sends
// nothing unless the socket file is a socket this user owns and, where the
// kernel says who listens (SO_PEERCRED on Linux), the listener runs as
// this user: another local user's listener would receive every prompt.
func exchange(path string, req []byte, deadline time.Time) (int, error) {
	return exchangeAs(path, req, deadline, os.Getuid())
}

// exchangeAs is exchange with the listener's expected uid (tests).
func exchangeAs(path string, req []byte, deadline time.Time, uid int) (int, error) {
	if len(path) > hookproto.MaxSocketPath {
		// No daemon can listen there either: start one anyway, so its
		// log says why (set WEAVE_HOME to a shorter directory).
		return 0, fmt.Errorf("%w: %w", errNoDaemon, hookproto.ErrSocketPath)
	}
	if err := hookproto.CheckSocketOwner(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("%w: %v", errNoDaemon, err)
		}
		return 0, fmt.Errorf("%w: %w", errForeignPeer, err)
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return 0, fmt.Errorf("weave-hook: socket: %w", err)
	}
	defer syscall.Close(fd)
	syscall.CloseOnExec(fd)
	if err := setTimeout(fd, syscall.SO_SNDTIMEO, deadline); err != nil {
		return 0, err
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
		if err := setTimeout(fd, syscall.SO_SNDTIMEO, deadline); err != nil {
			return 0, err
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return 0, fmt.Errorf("%w: %v", errNoDaemon, err)
	default:
		return 0, fmt.Errorf("weave-hook: connect: %w", err) // EAGAIN: backlog full past the deadline
	}
	// The file could have been swapped since the check: ask the kernel who
	// listens, before sending a byte.
	if err := checkPeer(fd, uid); err != nil {
		return 0, fmt.Errorf("%w: %w", errForeignPeer, err)
	}
	for len(req) > 0 {
		if err := setTimeout(fd, syscall.SO_SNDTIMEO, deadline); err != nil {
			return 0, err
		}
		n, err := syscall.Write(fd, req)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("weave-hook: write: %w", err)
		}
		req = req[n:]
	}
	_ = syscall.Shutdown(fd, syscall.SHUT_WR) // the daemon sees the end of the request
	var buf [256]byte
	got := 0
	for {
		if err := setTimeout(fd, syscall.SO_RCVTIMEO, deadline); err != nil {
			return 0, err
		}
		n, err := syscall.Read(fd, buf[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("weave-hook: read: %w", err)
		}
		if n == 0 {
			return parseStatus(buf[:got])
		}
		got += n
		for i := 0; i < got; i++ {
			if buf[i] == '\n' {
				return parseStatus(buf[:i+1])
			}
		}
		if got == len(buf) {
			return parseStatus(buf[:got])
		}
	}
}

// setTimeout sets opt to the time left until deadline, or fails when none
// is left.
func setTimeout(fd, opt int, deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return fmt.Errorf("weave-hook: %w", errDeadline)
	}
	tv := syscall.NsecToTimeval(left.Nanoseconds())
	if tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1 // 0 would mean no timeout
	}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
		return fmt.Errorf("weave-hook: setsockopt: %w", err)
	}
	return nil
}

var errDeadline = errors.New("deadline exceeded")

// parseStatus reads "HTTP/1.x NNN ..." and returns NNN.
func parseStatus(line []byte) (int, error) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return 0, fmt.Errorf("weave-hook: bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("weave-hook: bad status line %q", line)
	}
	return code, nil
}
