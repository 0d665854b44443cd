package main

import (
	"fmt"
	"syscall"
)

// checkPeer refuses a connection whose listening process does not run as
// uid (SO_PEERCRED: the credentials the listener had when it called
// listen(2)).
func checkPeer(fd, uid int) error {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return fmt.Errorf("weave-hook: SO_PEERCRED: %w", err)
	}
	if int(cred.Uid) != uid {
		return fmt.Errorf("weave-hook: the process listening on the socket (pid %d) runs as uid %d, not %d", cred.Pid, cred.Uid, uid)
	}
	return nil
}
