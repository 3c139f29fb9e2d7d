//go:build !linux

package capture

// DropCaptureCapabilities does nothing: live capture, and the
// capabilities it needs, are Linux's.
func DropCaptureCapabilities() error { return nil }
