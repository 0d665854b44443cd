package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"unsafe"
)

// netnsEnv marks the process re-executed inside the private namespace.
const netnsEnv = "WEAVE_E2E_NETNS"

// IsolateNetwork runs the rest of this program in a private network
// namespace whose only interface is loopback, so the CLI, the mock, the
// daemon and the server it runs can reach each other on 127.0.0.1 and
// nothing else. It re-executes the program (same arguments and
// environment) in a new namespace and exits with its exit code; in the
// re-executed process it brings loopback up and returns "private".
//
// It needs root (CAP_SYS_ADMIN); otherwise, or with WEAVE_E2E_NETNS=off,
// it returns at once with the reason the host network is used. Do
// everything that needs the network (npm, go build) before calling it.
func IsolateNetwork() (string, error) {
	switch os.Getenv(netnsEnv) {
	case "inside":
		if err := loopbackUp(); err != nil {
			return "", fmt.Errorf("harness: bring loopback up in the private network namespace: %w", err)
		}
		ifs, err := net.Interfaces()
		if err != nil {
			return "", err
		}
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				return "", fmt.Errorf("harness: the private network namespace has interface %s", i.Name)
			}
		}
		return "private network namespace (loopback only)", nil
	case "off":
		return "host network (WEAVE_E2E_NETNS=off)", nil
	}
	if os.Geteuid() != 0 {
		return "host network (not root: no private network namespace; the CLI's nonessential traffic is off)", nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=inside")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("harness: start in a private network namespace: %w", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	go func() {
		for sig := range sigs {
			cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
	os.Exit(cmd.ProcessState.ExitCode())
	return "", nil
}

// loopbackUp sets IFF_UP on lo (a new namespace starts with it down).
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	// struct ifreq: the name, then the flags (a short) in the union.
	var ifr [40]byte
	copy(ifr[:], "lo")
	flags := (*uint16)(unsafe.Pointer(&ifr[syscall.IFNAMSIZ]))
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	*flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
