package tokenauth_test

import (
	"fmt"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/tokenauth"
)

func Example() {
	secret := []byte("a shared secret of 32 bytes.....")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	// The login service mints a token for a user...
	token, err := tokenauth.Sign(secret, tokenauth.Claims{Subject: "alice", ExpiresAt: now.Add(time.Hour).Unix()})
	if err != nil {
		panic(err)
	}
	// ...and the gateway checks it on the upgrade request.
	v, err := tokenauth.New(tokenauth.Config{Secret: secret})
	if err != nil {
		panic(err)
	}
	c, err := v.Verify(token, now)
	fmt.Println(c.Subject, err)
	_, err = v.Verify(token, now.Add(2*time.Hour))
	fmt.Println(err)
	// Output:
	// alice <nil>
	// tokenauth: token expired at 2030-01-01T01:00:00Z
}
