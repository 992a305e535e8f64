package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

func TestCompressionFlags(t *testing.T) {
	o, err := parseRunFlags(strings.Fields("--url ws://127.0.0.1:9/ --compression --pad-json --size 4096"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if w := o.cfg.Worker; !w.Compression || !w.PadJSON || w.Size != 4096 {
		t.Fatalf("worker config %+v", w)
	}
	var b bytes.Buffer
	printSummary(&b, &loadgen.Report{Proto: "ws", Mode: "rate", Compression: true, WireBytesPerMessage: 752})
	if !strings.Contains(b.String(), "wire: 752 bytes read per message (compression true)") {
		t.Errorf("summary %q lacks the wire bytes", b.String())
	}
}
