package loadgen

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command holds spaces and a ')': fields count from the last ')'.
	line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 1 0 100 0 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 3800*time.Millisecond {
		t.Fatalf("cpu %v, %v; want 3.8s", got, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1 2")); !errors.Is(err, ErrProc) {
		t.Fatalf("short stat: %v", err)
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := parseStatusRSS([]byte("Name:\tx\nVmPeak:\t  999 kB\nVmRSS:\t    1234 kB\n"))
	if err != nil || got != 1234*1024 {
		t.Fatalf("rss %d, %v", got, err)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); !errors.Is(err, ErrProc) {
		t.Fatalf("no VmRSS: %v", err)
	}
}

func TestSampleProcSelf(t *testing.T) {
	s, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS == 0 || s.PID != os.Getpid() {
		t.Fatalf("sample %+v", s)
	}
	if _, err := SampleProc(1 << 30); !errors.Is(err, ErrProc) {
		t.Fatalf("missing pid: %v", err)
	}
}
