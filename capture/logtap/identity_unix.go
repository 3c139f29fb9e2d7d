//go:build unix

package logtap

import (
	"os"
	"syscall"
)

// fileID is what survives a rename: the device and inode.
type fileID struct{ dev, ino uint64 }

func identity(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), uint64(st.Ino)}
	}
	return fileID{}
}
