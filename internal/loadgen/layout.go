package loadgen

import (
	"net/url"
	"strconv"
)

// The layout of a run places every connection on a URL and in a scope: the
// set of connections a message of a sender in that scope must reach.
//
// Connections are numbered run-wide by an ordinal, senders first: sender s
// has ordinal s, and the receivers of each process follow in process order.
// With U URLs and G groups:
//
//   - no groups: URL o mod U; one scope (every connection), or with
//     Independent the URL's index (each server alone);
//   - groups, one cluster: group o mod G, URL (o + o/G) mod U, so the
//     members of a group spread over every URL and sender g (ordinal g) is
//     the first member of group g;
//   - groups, Independent: group o mod G, URL o mod U; G being a multiple of
//     U, a group stays on one URL.

// ordinal returns the run-wide ordinal of the process's connection i.
func (c *WorkerConfig) ordinal(i int) int {
	if i < c.Senders {
		return c.SenderBase + i
	}
	// Receivers of the earlier processes: ConnBase - SenderBase.
	return c.TotalSenders + (c.ConnBase - c.SenderBase) + (i - c.Senders)
}

// scopes returns the number of scopes of the run.
func (c *WorkerConfig) scopes() int {
	switch {
	case c.Groups > 0:
		return c.Groups
	case c.Independent:
		return len(c.URLs)
	default:
		return 1
	}
}

// place returns the URL index and the scope of the connection of ordinal o.
func (c *WorkerConfig) place(o int) (urlIndex, scope int) {
	u := len(c.URLs)
	switch {
	case c.Groups > 0 && c.Independent:
		return o % u, o % c.Groups
	case c.Groups > 0:
		return (o + o/c.Groups) % u, o % c.Groups
	case c.Independent:
		return o % u, o % u
	default:
		return o % u, 0
	}
}

// dialURL returns the URL connection i dials and its scope.
func (c *WorkerConfig) dialURL(i int) (string, int) {
	ui, scope := c.place(c.ordinal(i))
	s := c.URLs[ui]
	if c.Groups == 0 {
		return s, scope
	}
	u, err := url.Parse(s) // validated by setDefaults
	if err != nil {
		return s, scope
	}
	q := u.Query()
	q.Set(GroupParam, strconv.Itoa(scope))
	u.RawQuery = q.Encode()
	return u.String(), scope
}
