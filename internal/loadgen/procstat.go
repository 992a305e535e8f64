package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is the resource use of one process at one instant.
type ProcSample struct {
	PID int
	// At is when the sample was taken.
	At time.Time
	// CPU is utime+stime so far.
	CPU time.Duration
	// RSS is VmRSS in bytes.
	RSS uint64
}

// SampleProc reads /proc/PID/stat and /proc/PID/status.
func SampleProc(pid int) (ProcSample, error) {
	return sampleProc("/proc", pid)
}

func sampleProc(root string, pid int) (ProcSample, error) {
	s := ProcSample{PID: pid, At: time.Now()}
	dir := root + "/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrProc, err)
	}
	if s.CPU, err = parseStatCPU(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrProc, err)
	}
	if s.RSS, err = parseStatusRSS(status); err != nil {
		return s, err
	}
	return s, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) may hold spaces and parentheses, so the
// fields are counted from its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no command", ErrProc)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields", ErrProc, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: stat utime %q stime %q", ErrProc, f[11], f[12])
	}
	return time.Duration(ut+st) * (time.Second / clockTicks), nil
}

// parseStatusRSS returns VmRSS of /proc/PID/status in bytes.
func parseStatusRSS(b []byte) (uint64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%w: VmRSS line %q", ErrProc, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS %q", ErrProc, f[0])
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%w: no VmRSS", ErrProc)
}
