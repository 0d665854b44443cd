//go:build unix

package chlocal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// The npm package that carries ClickHouse as a library (chDB's
// libchdb.so: clickhouse-local), pinned by version and by the integrity
// the registry publishes for that version's tarball.
const (
	Package   = "@chdb/lib-linux-x64-gnu"
	Version   = "26.7.3-stable.1"
	Integrity = "sha512-XP97mMqnc5tZpKQywR8N7cLTsHNiTmHr30pC5mzo3jWmukjKn2IBa60c2B/gWUNcuFjOMjWoorQICCqBVj5wpw=="
	// libName is the library inside the package.
	libName = "libchdb.so"
)

// Environment variables that change where the library comes from.
const (
	// EnvLib names an already installed libchdb.so to use instead of
	// the cached package (no npm needed).
	EnvLib = "WEAVE_CHDB_LIB"
	// EnvCache overrides the cache directory (default
	// $XDG_CACHE_HOME/weave or ~/.cache/weave).
	EnvCache = "WEAVE_CHDB_CACHE"
)

// InstallDir is where Install keeps the library of Version.
func InstallDir() (string, error) {
	base := os.Getenv(EnvCache)
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("chlocal: cache directory: %w (set %s)", err, EnvCache)
		}
		base = filepath.Join(c, "weave")
	}
	return filepath.Join(base, "chdb-"+Version), nil
}

// Install returns the path of libchdb.so, installing the pinned npm
// package into the cache first if it is not there: `npm pack` fetches the
// tarball (npm's own cache makes a second install cheap), its integrity
// must be the pinned one (checked on npm's report and on the bytes), and
// only the library is kept. Concurrent installs (several test binaries)
// wait for one another. Progress lines go to log (nil: none).
func Install(ctx context.Context, log io.Writer) (string, error) {
	if p := os.Getenv(EnvLib); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chlocal: %s: %w", EnvLib, err)
		}
		return p, nil
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("chlocal: %s is for linux/amd64 (glibc); on %s/%s set %s to a libchdb.so of ClickHouse 24+",
			Package, runtime.GOOS, runtime.GOARCH, EnvLib)
	}
	if log == nil {
		log = io.Discard
	}
	dir, err := InstallDir()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, libName)
	marker := filepath.Join(dir, "integrity")
	if installed(lib, marker) {
		return lib, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("chlocal: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if installed(lib, marker) { // another process installed it meanwhile
		return lib, nil
	}
	fmt.Fprintf(log, "chlocal: installing %s@%s into %s\n", Package, Version, dir)
	tmp, err := os.MkdirTemp(dir, "pack-")
	if err != nil {
		return "", fmt.Errorf("chlocal: %w", err)
	}
	defer os.RemoveAll(tmp)
	tgz, err := npmPack(ctx, tmp)
	if err != nil {
		return "", err
	}
	if err := checkIntegrity(tgz); err != nil {
		return "", err
	}
	part := filepath.Join(tmp, libName)
	if err := extract(tgz, "package/"+libName, part); err != nil {
		return "", err
	}
	if err := os.Rename(part, lib); err != nil {
		return "", fmt.Errorf("chlocal: %w", err)
	}
	if err := os.WriteFile(marker, []byte(Integrity+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("chlocal: %w", err)
	}
	fmt.Fprintf(log, "chlocal: installed %s\n", lib)
	return lib, nil
}

// installed reports whether the library is there and was installed from
// the pinned tarball.
func installed(lib, marker string) bool {
	m, err := os.ReadFile(marker)
	if err != nil || strings.TrimSpace(string(m)) != Integrity {
		return false
	}
	st, err := os.Stat(lib)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// npmPack downloads the package tarball into dir with npm and returns its
// path, after checking that npm reports the pinned integrity.
func npmPack(ctx context.Context, dir string) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("chlocal: npm not found (apt-get install npm, or set %s to a libchdb.so): %w", EnvLib, err)
	}
	cmd := exec.CommandContext(ctx, npm, "pack", Package+"@"+Version, "--json", "--pack-destination", dir)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chlocal: npm pack %s@%s: %w: %s", Package, Version, err, tail(stderr.String(), 2000))
	}
	var res []struct {
		Filename  string `json:"filename"`
		Integrity string `json:"integrity"`
		Version   string `json:"version"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		return "", fmt.Errorf("chlocal: npm pack: unexpected output (%v): %s", err, tail(string(out), 500))
	}
	if res[0].Integrity != Integrity {
		return "", fmt.Errorf("chlocal: npm pack %s@%s: integrity %s, want %s", Package, Version, res[0].Integrity, Integrity)
	}
	return filepath.Join(dir, filepath.Base(res[0].Filename)), nil
}

// checkIntegrity hashes the tarball itself: the pinned integrity must
// hold whatever npm said.
func checkIntegrity(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("chlocal: %w", err)
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("chlocal: hash %s: %w", path, err)
	}
	if got := "sha512-" + base64.StdEncoding.EncodeToString(h.Sum(nil)); got != Integrity {
		return fmt.Errorf("chlocal: %s: integrity %s, want %s", filepath.Base(path), got, Integrity)
	}
	return nil
}

// extract writes the tar.gz member name to dst.
func extract(tgz, name, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("chlocal: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("chlocal: %s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("chlocal: %s has no %s", filepath.Base(tgz), name)
		}
		if err != nil {
			return fmt.Errorf("chlocal: %s: %w", tgz, err)
		}
		if h.Name != name || h.Typeflag != tar.TypeReg {
			continue
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return fmt.Errorf("chlocal: %w", err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return fmt.Errorf("chlocal: extract %s: %w", name, err)
		}
		return out.Close()
	}
}

// lockFile takes an exclusive flock on path, waiting (and honouring ctx)
// while another process holds it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chlocal: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("chlocal: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("chlocal: waiting for another install (%s): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
