package pushclient

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// A Client has every method of businessworker.API, with the same signature,
// so that go doc lists and documents each of them (api.go).
func TestClientHasEveryAPIMethod(t *testing.T) {
	api := reflect.TypeFor[*businessworker.API]()
	client := reflect.TypeFor[*Client]()
	for i := range api.NumMethod() {
		m := api.Method(i)
		cm, ok := client.MethodByName(m.Name)
		if !ok {
			t.Errorf("Client has no %s (add it to api.go)", m.Name)
			continue
		}
		// Compare without the receiver.
		want, got := m.Type, cm.Type
		if want.NumIn() != got.NumIn() || want.NumOut() != got.NumOut() || want.IsVariadic() != got.IsVariadic() {
			t.Errorf("%s: Client has %v, API has %v", m.Name, got, want)
			continue
		}
		for j := 1; j < want.NumIn(); j++ {
			if want.In(j) != got.In(j) {
				t.Errorf("%s: argument %d is %v, API's is %v", m.Name, j, got.In(j), want.In(j))
			}
		}
		for j := range want.NumOut() {
			if want.Out(j) != got.Out(j) {
				t.Errorf("%s: result %d is %v, API's is %v", m.Name, j, got.Out(j), want.Out(j))
			}
		}
	}
}

// The zero Client returns ErrNotInitialized and does not panic.
func TestZeroClient(t *testing.T) {
	var c Client
	ctx := context.Background()
	if err := c.SendToAll(ctx, businessworker.Text("x")); !errors.Is(err, businessworker.ErrNotInitialized) {
		t.Fatalf("SendToAll: %v", err)
	}
	if _, err := c.CountClients(ctx); !errors.Is(err, businessworker.ErrNotInitialized) {
		t.Fatalf("CountClients: %v", err)
	}
	if c.ID() != "" || c.Workers() != nil || c.Close(ctx) != nil {
		t.Fatal("zero Client has an id, workers, or fails to close")
	}
}
