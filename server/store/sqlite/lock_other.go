//go:build !unix

package sqlite

import "os"

// lockFile is a no-op where flock is not available; SQLite's own locking
// still keeps the file consistent, but two processes must not share it.
func lockFile(string) (*os.File, error) { return nil, nil }

func unlockFile(*os.File) error { return nil }
