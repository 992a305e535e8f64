package businessworker

import (
	"context"
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
)

// BenchmarkSendToClient measures the API path of a send to one client: id
// parsing, command building and queuing, with the batches shipped to a fake
// gateway over loopback gRPC.
func BenchmarkSendToClient(b *testing.B) {
	g := linkertest.NewGateway(b, 0xb1)
	g.Quiet = true
	p := pushAPI(b, linker.Config{Source: linkertest.NewSource(g).Run})
	bg := context.Background()
	if err := p.Flush(bg); err != nil {
		b.Fatal(err)
	}
	id := clientid.ID{Node: 0xb1, Conn: 42}.String()
	msg := Text("a chat message of about sixty-four bytes, as a chat would send")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.SendToClient(bg, id, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(bg); err != nil {
		b.Fatal(err)
	}
}
