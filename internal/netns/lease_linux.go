package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LockDir holds one lock file per live network ("<id>.lock"), locked with
// flock(2) by the process that owns the network. The kernel drops the lock
// when that process dies, which is how a later run tells a network left by
// a killed run from a live one. /run is a tmpfs, emptied at boot together
// with the namespaces.
const LockDir = "/run/gwns"

// leaseRecord is what a lock file holds: what to undo besides the
// namespaces.
type leaseRecord struct {
	Subnet string `json:"subnet,omitempty"` // routed as unreachable in the root namespace
	PID    int    `json:"pid"`
}

// lease is a held lock file.
type lease struct {
	f    *os.File
	path string
}

// acquireLease creates and locks the lock file of a new network named
// name, and returns it with the network's id. The file appears under its
// final name already locked (created under a temporary name, locked, then
// hard-linked), so a sweeping run never sees it unlocked.
func acquireLease(dir, name string) (*lease, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("%w: lock directory: %w", ErrUnavailable, err)
	}
	for range 8 {
		f, err := os.CreateTemp(dir, "pending-*")
		if err != nil {
			return nil, "", fmt.Errorf("%w: lock file: %w", ErrUnavailable, err)
		}
		// Until it is locked, a sweeping run may take the pending file for
		// a dead run's and remove it: then start over.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		id := newID(name)
		path := filepath.Join(dir, id+".lock")
		err = os.Link(f.Name(), path)
		os.Remove(f.Name())
		if err == nil {
			l := &lease{f: f, path: path}
			return l, id, l.record(leaseRecord{})
		}
		f.Close()
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("netns: lock file: %w", err)
		}
	}
	return nil, "", fmt.Errorf("netns: lock file: no free id for %q", name)
}

// record writes what the network will need undone.
func (l *lease) record(r leaseRecord) error {
	r.PID = os.Getpid()
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("netns: lock file: %w", err)
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("netns: lock file: %w", err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("netns: lock file: %w", err)
	}
	return nil
}

// release removes the lock file and then drops the lock.
func (l *lease) release() error {
	err := os.Remove(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, l.f.Close())
}

// takeStale locks the lock file at path if its owner is gone, and returns
// it with its record. It returns ok=false when the lock is held (the owner
// lives) or the file was replaced meanwhile.
func takeStale(path string) (_ *lease, _ leaseRecord, ok bool) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, leaseRecord{}, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, leaseRecord{}, false
	}
	// The owner may have removed the file between our open and our lock,
	// and a new network may even hold its name now: only a file still
	// linked under path is ours to clean.
	var held, named syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &held) != nil || syscall.Stat(path, &named) != nil || held.Ino != named.Ino || held.Dev != named.Dev {
		f.Close()
		return nil, leaseRecord{}, false
	}
	var r leaseRecord
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &r) // a torn record still lets the namespaces go
	}
	return &lease{f: f, path: path}, r, true
}

// sweepStale removes what killed earlier runs left: namespaces, unreachable
// routes and lock files of networks whose lock is no longer held, and
// processes still running in those namespaces. It is best effort: it
// returns what it removed and the errors it met.
func sweepStale(ip ipTool, dir string) (removed []string, errs []error) {
	namespaces, err := ip.namespaces()
	if err != nil {
		return nil, []error{err}
	}
	byID := map[string][]string{}
	for _, ns := range namespaces {
		if id, ok := idOfNamespace(ns); ok {
			byID[id] = append(byID[id], ns)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".lock"):
			id := strings.TrimSuffix(name, ".lock")
			if _, ok := byID[id]; !ok {
				byID[id] = nil
			}
		case strings.HasPrefix(name, "pending-"):
			// A run killed between creating and naming its lock file.
			if l, _, ok := takeStale(filepath.Join(dir, name)); ok {
				if err := l.release(); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	for id, nss := range byID {
		path := filepath.Join(dir, id+".lock")
		l, rec, ok := takeStale(path)
		if !ok {
			if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
				continue // live, or replaced: not ours
			}
			// No lock file at all: a network's lock file outlives its
			// namespaces, so these belong to a dead run.
		}
		for _, ns := range nss {
			if err := ip.deleteNamespace(ns); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, ns)
		}
		if l == nil {
			continue
		}
		if rec.Subnet != "" {
			if err := ip.deleteUnreachable(rec.Subnet); err != nil {
				errs = append(errs, err)
			} else {
				removed = append(removed, "route unreachable "+rec.Subnet)
			}
		}
		if err := l.release(); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, path)
	}
	return removed, errs
}
