//go:build linux

package capture

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// DropCaptureCapabilities gives up what opening a live capture needed,
// once every capture socket is open: CAP_NET_RAW leaves the effective,
// permitted and inheritable sets, the ambient set and (when the process
// may change it, i.e. holds CAP_SETPCAP, as root does) the bounding set,
// and PR_SET_NO_NEW_PRIVS is set so that no exec can bring it back. Open
// sockets and their rings keep working: the kernel checks the capability
// when a packet socket is created, not when it is read.
//
// Capabilities and no_new_privs are per thread on Linux, and the Go
// runtime runs many; psx applies every change to all of them.
func DropCaptureCapabilities() error {
	const capNetRaw = unix.CAP_NET_RAW
	// The bounding set first: dropping it needs CAP_SETPCAP, which
	// leaves the effective set with the rest below. A binary given only
	// cap_net_raw by setcap cannot, and need not: with no_new_privs an
	// exec cannot raise capabilities from the bounding set.
	if _, _, errno := psx.Syscall3(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, capNetRaw, 0); errno != 0 && errno != unix.EPERM && errno != unix.EINVAL {
		return fmt.Errorf("drop CAP_NET_RAW from the bounding set: %w", errno)
	}
	if _, _, errno := psx.Syscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_LOWER, capNetRaw, 0, 0, 0); errno != 0 && errno != unix.EINVAL {
		return fmt.Errorf("drop CAP_NET_RAW from the ambient set: %w", errno)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	bit := uint32(1) << (capNetRaw % 32)
	d := &data[capNetRaw/32]
	d.Effective &^= bit
	d.Permitted &^= bit
	d.Inheritable &^= bit
	if _, _, errno := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("drop CAP_NET_RAW: %w", errno)
	}
	if _, _, errno := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("set no_new_privs: %w", errno)
	}
	return nil
}
