//go:build !linux

package netns

import (
	"fmt"
	"runtime"
)

// Available reports whether this process can create network namespaces:
// never, outside Linux.
func Available() error {
	return fmt.Errorf("%w: %s has no network namespaces", ErrUnavailable, runtime.GOOS)
}
