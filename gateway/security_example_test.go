package gateway_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// A gateway that admits only clients with a token minted by the login
// service (here SignToken; any JWT HS256 library will do).
func ExampleHMACTokenCheck() {
	secret := []byte("32 random bytes from a vault....")
	check, err := gateway.HMACTokenCheck(gateway.TokenCheck{Secret: secret})
	if err != nil {
		panic(err)
	}
	cfg := gateway.Config{OnHandshake: check}
	_ = cfg // gateway.New(cfg), then Serve

	token, err := gateway.SignToken(secret, "alice", time.Now().Add(5*time.Minute))
	if err != nil {
		panic(err)
	}
	// The client connects to ws://gateway:7272/?token=<token>.
	fmt.Println(check(&gateway.Handshake{RawQuery: "token=" + token}))
	var refused *gateway.HandshakeError
	if errors.As(check(&gateway.Handshake{RawQuery: "token=forged"}), &refused) {
		fmt.Println(refused.Status, refused.Reason)
	}
	// Output:
	// <nil>
	// 401 invalid token
}
