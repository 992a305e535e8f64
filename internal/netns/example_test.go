//go:build linux

package netns_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gatewayworker/gatewayworker/internal/netns"
)

// Two hosts on one switch; a server runs on one, a client on the other,
// and the link of the server's host is cut and healed. In a test, pass t
// to New (Close then runs at cleanup) and skip on netns.ErrUnavailable.
func Example() {
	n, err := netns.New(nil, "example", "")
	if err != nil {
		log.Fatal(err) // errors.Is(err, netns.ErrUnavailable): not root, or no namespaces here
	}
	defer n.Close()
	server, err := n.AddHost("server")
	if err != nil {
		log.Fatal(err)
	}
	client, err := n.AddHost("client")
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	srv := server.Command(ctx, "/usr/local/bin/myserver", "--listen", server.IP+":8080")
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Process.Kill() // Close kills what is left on the hosts anyway

	out, err := client.Command(ctx, "/usr/local/bin/myclient", server.IP+":8080").Output()
	fmt.Printf("%s %v\n", out, err)

	server.Cut() // the client now times out
	server.Heal()
}
