//go:build !linux && !darwin

package service

// Install is not supported here.
func Install(Spec, Settings, bool) (Result, error) { return Result{}, ErrUnsupported }

// Uninstall is not supported here.
func Uninstall(Settings) (Result, error) { return Result{}, ErrUnsupported }

// Render is not supported here.
func Render(Spec, Settings) ([]byte, string) { return nil, "" }
