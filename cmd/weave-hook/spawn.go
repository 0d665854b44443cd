package main

import (
	"errors"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// startDaemon starts weave-agentd detached unless one holds the start lock
// (see hookproto.StartDaemon): two hooks racing here start one daemon.
func startDaemon(p hookproto.Paths) error {
	bin, err := hookproto.FindAgentd()
	if err != nil {
		return err
	}
	if err := hookproto.StartDaemon(p, bin); err != nil && !errors.Is(err, hookproto.ErrLocked) {
		return err
	}
	return nil
}
