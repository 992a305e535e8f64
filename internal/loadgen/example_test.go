package loadgen_test

import (
	"fmt"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

// A workload message is 32 ASCII hex digits, padded to the asked size.
func ExampleAppendPayload() {
	b := loadgen.AppendPayload(nil, loadgen.Message{Sender: 3, Seq: 10, Sent: 255}, 36)
	fmt.Println(string(b))
	m, err := loadgen.ParsePayload(b)
	fmt.Println(m, err)
	// Output:
	// 000000030000000a00000000000000ff....
	// {3 10 255} <nil>
}

// Each receiver records into its own Recorder; the run merges them.
func ExampleHistogram() {
	var a, b loadgen.Recorder
	for i := int64(1); i <= 100; i++ {
		a.Record(i * 1000) // 1..100 µs
		b.Record(i * 2000) // 2..200 µs
	}
	var h loadgen.Histogram
	h.AddRecorder(&a)
	h.AddRecorder(&b)
	fmt.Println(h.Count(), h.Max())
	fmt.Println(h.Quantile(0.5) > 60_000 && h.Quantile(0.5) < 80_000)
	// Output:
	// 200 200000
	// true
}
