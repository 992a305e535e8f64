package businessworker

import (
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// pushAPI returns an API over a lazy linker (what pushclient builds), closed
// when the test ends.
func pushAPI(tb testing.TB, cfg linker.Config) *API {
	tb.Helper()
	cfg.Lazy = true
	l, err := linker.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return &API{l: l}
}
