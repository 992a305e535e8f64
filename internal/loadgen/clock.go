package loadgen

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock gives nanoseconds since a shared epoch on CLOCK_MONOTONIC, which every
// process on the machine sees alike. Reading it costs one vDSO call
// (time.Since); the system call happens once, in NewClock.
type Clock struct {
	base   time.Time
	offset int64
}

// MonotonicNow returns CLOCK_MONOTONIC in nanoseconds: the value to pass as
// the epoch of a run to every process taking part in it.
func MonotonicNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// NewClock returns a clock counting from epoch, a value of MonotonicNow taken
// by any process; 0 means now.
func NewClock(epoch int64) Clock {
	base := time.Now()
	mono := MonotonicNow()
	if epoch == 0 {
		epoch = mono
	}
	return Clock{base: base, offset: mono - epoch}
}

// Now returns nanoseconds since the epoch.
func (c Clock) Now() int64 { return c.offset + int64(time.Since(c.base)) }

// Until returns the duration from now until t (nanoseconds since the epoch).
func (c Clock) Until(t int64) time.Duration { return time.Duration(t - c.Now()) }
