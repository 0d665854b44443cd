//go:build !linux

package harness

// IsolateNetwork: private network namespaces are Linux's; elsewhere the
// host network is used (the CLI's nonessential traffic is off).
func IsolateNetwork() (string, error) {
	return "host network (no private network namespace on this OS)", nil
}
