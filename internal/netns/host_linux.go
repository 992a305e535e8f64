package netns

import (
	"context"
	"fmt"
	"os/exec"
)

// Host is one machine of a Network: a namespace with lo and eth0, whose
// other end is a port of the switch.
type Host struct {
	Name string // as given to AddHost
	IP   string // its address on the network, such as "10.203.17.1"

	ns   string // namespace name
	port string // the switch's port for this host
	net  *Network
}

// Namespace returns the name of the host's network namespace, for
// "ip netns exec" by hand while debugging.
func (h *Host) Namespace() string { return h.ns }

// Command returns a command that runs bin with args on the host:
// "ip netns exec <namespace> bin args...". ip replaces itself with bin, so
// the command's process is bin's: signals sent to it reach bin. The command
// inherits the environment of the caller as exec.Cmd does; ctx kills it as
// in exec.CommandContext.
func (h *Host) Command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, h.net.ip.path, append([]string{"netns", "exec", h.ns, bin}, args...)...)
}

// Cut unplugs the host: its port on the switch goes down. The host keeps
// its address and processes; its eth0 loses carrier and nothing passes
// either way, silently, like a pulled cable, so peers only notice through
// timeouts. Connections in flight survive a Cut that Heal ends soon enough.
func (h *Host) Cut() error { return h.setPort("down") }

// Heal plugs the host back in after Cut.
func (h *Host) Heal() error { return h.setPort("up") }

func (h *Host) setPort(state string) error {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	if h.net.closed {
		return ErrClosed
	}
	if _, err := h.net.ip.run("", "-n", h.net.switchNS, "link", "set", h.port, state); err != nil {
		return fmt.Errorf("netns: host %s: link %s: %w", h.Name, state, err)
	}
	return nil
}
