package shootout_test

import (
	"encoding/json"
	"fmt"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/shootout/shootout"
)

// The shootout is a businessworker Handler: give it to a Worker and run
// the Worker (w.Run(ctx)) to serve every gateway the register knows.
func ExampleHandler() {
	w, err := businessworker.New(businessworker.Config{
		Registers: []string{"127.0.0.1:1236"},
		Name:      "shootout",
		Handler:   &shootout.Handler{},
	})
	fmt.Println(w != nil, err)
	// Output: true <nil>
}

func ExampleEncode() {
	fmt.Println(string(shootout.Encode(shootout.TypeBroadcastResult, json.RawMessage(`{"sendTime":"1"}`))))
	// Output: {"type":"broadcastResult","payload":{"sendTime":"1"}}
}
