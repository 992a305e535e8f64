package gateway

import (
	"time"

	"github.com/gatewayworker/gatewayworker/internal/wsconn"
)

// heartbeat is the one goroutine that watches client liveness: a client
// silent for PingInterval is pinged (the shared ping frame, no
// allocation), one silent for PingInterval*(PingMaxMissed+1) is closed
// with 4001. It runs until stop is closed.
func (g *Gateway) heartbeat(stop <-chan struct{}) {
	tick := min(g.cfg.PingInterval/4, maxHeartbeatTick)
	t := time.NewTicker(max(tick, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			g.scan(now.UnixNano())
		}
	}
}

// scan checks every client once.
func (g *Gateway) scan(now int64) {
	interval := int64(g.cfg.PingInterval)
	dead := interval * int64(g.cfg.PingMaxMissed+1)
	g.hub.forEach(func(c *conn) {
		silent := now - c.lastSeen.Load()
		switch {
		case silent >= dead:
			if c.readState() == statePaused {
				return // not read because of flow control: not silent
			}
			if c.close(wsconn.CloseHeartbeatTimeout, "heartbeat timeout", closeNow) {
				g.stats.heartbeatTimeout.Add(1)
			}
		case silent >= interval && now-c.lastPing >= interval:
			c.lastPing = now
			c.sendControl(g.ping)
		}
	})
}
