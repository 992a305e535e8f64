package e2e

import (
	"context"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/chat/chat"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/tlsconf"
	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"
	"github.com/gatewayworker/gatewayworker/register"
)

// loadTLS loads a node identity logging to logs.
func loadTLS(t *testing.T, cfg tlsconf.Config, logs *syncBuffer) *tlsconf.TLS {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	tl, err := tlsconf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// With mTLS on every internal link, the cluster works; a gateway or worker
// whose certificate is not from the cluster CA, or with the wrong secret, is
// refused and logged, and never appears in the membership.
func TestHAMutualTLS(t *testing.T) {
	ca, other := tlsconftest.NewCA(t, "cluster"), tlsconftest.NewCA(t, "other")
	regLogs, gwLogs := new(syncBuffer), new(syncBuffer)

	regTLS := loadTLS(t, ca.Issue("register"), regLogs)
	reg, err := register.New(register.Config{Name: "r1", Secret: helperSecret, TLS: regTLS.Config(),
		Logger: slog.New(slog.NewTextHandler(regLogs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	start(t, func(ctx context.Context) error { return reg.Serve(ctx, lis) })
	c := &cluster{t: t, secret: helperSecret, register: lis.Addr().String()}

	gwTLS := loadTLS(t, ca.Issue("gateway"), gwLogs)
	g := c.addGateway("g1", func(cfg *gateway.Config) {
		cfg.TLS = gwTLS.Config()
		cfg.Logger = slog.New(slog.NewTextHandler(gwLogs, nil))
	})
	worker := func(name string, id tlsconf.Config, secret string) {
		tl := loadTLS(t, id, new(syncBuffer))
		w, err := businessworker.New(businessworker.Config{Registers: []string{c.register}, Secret: secret, Name: name,
			Handler: &chat.Handler{Tick: -1}, TLS: tl.ClientConfig(), Logger: testLogger(t),
			// A worker that never reached a register waits StopTimeout
			// twice on stop (linker.Flush waits for a first gateway set).
			StopTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start(t, w.Run)
	}
	worker("good", ca.Issue("worker"), helperSecret)
	c.waitLinked(1)
	a, b := dial(t, g.ws), dial(t, g.ws)
	a.send("over mTLS")
	b.expect("over mTLS")

	// Intruders: a worker with a certificate of another CA, one with a good
	// certificate but the wrong secret, and a gateway of another CA.
	worker("stranger", other.Issue("stranger"), helperSecret)
	worker("no-secret", ca.Issue("no-secret"), "wrong")
	strangerTLS := loadTLS(t, other.Issue("stranger-gw"), new(syncBuffer))
	c.addGateway("stranger-gw", func(cfg *gateway.Config) {
		cfg.TLS = strangerTLS.Config()
	})
	eventually(t, "refusals logged by the register", func() bool {
		l := regLogs.String()
		return strings.Count(l, "internal TLS handshake refused") >= 2 && strings.Contains(l, "call refused: missing or wrong cluster secret")
	})
	time.Sleep(500 * time.Millisecond) // give a wrongly admitted node time to show up before asserting it did not
	if gws := reg.Gateways(); len(gws) != 1 || clientid.FormatNode(gws[0].GetNodeId()) != g.NodeID() {
		t.Fatalf("register membership %v, want g1 alone", gws)
	}
	if n := g.Stats().Workers; n != 1 {
		t.Fatalf("gateway has %d workers, want the good one alone", n)
	}
	a.send("still fine")
	b.expect("still fine")
}
