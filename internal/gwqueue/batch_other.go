//go:build !linux

package gwqueue

import "errors"

type iovecs []struct{}

// WriteNonblock is only implemented on Linux; elsewhere it fails with
// errors.ErrUnsupported and the caller writes with WriteTo.
func (b *Batch) WriteNonblock(int) error { return errors.ErrUnsupported }
