package netns

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// Available reports whether this process can build networks: nil if it
// runs as root, finds the ip command, and can create a trial namespace
// with a bridge and a veth pair in it (removed before returning).
// Otherwise the error wraps ErrUnavailable and says what is missing.
func Available() error {
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Errorf("%w: not root (euid %d)", ErrUnavailable, euid)
	}
	ip, err := lookupIP()
	if err != nil {
		return err
	}
	l, id, err := acquireLease(LockDir, "probe")
	if err != nil {
		return err
	}
	ns := Prefix + id
	err = ip.addNamespace(ns)
	if err == nil {
		if berr := ip.batch(ns, "link add "+bridgeIf+" type bridge", "link add p0 type veth peer name p1"); berr != nil {
			err = fmt.Errorf("%w: %w", ErrUnavailable, berr)
		}
		err = errors.Join(err, ip.deleteNamespace(ns))
	}
	return errors.Join(err, l.release())
}

// SkipUnlessAvailable skips the test, saying why, when Available reports
// an error.
func SkipUnlessAvailable(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("needs network namespaces: %v", err)
	}
}
