// Command floor is the floor of gatewayworker's fan-out benchmark: what the
// kernel costs and nothing else. One goroutine runs a raw epoll loop
// (golang.org/x/sys/unix) that accepts connections, does a minimal WebSocket
// handshake, reads client frames, and writes every message as one
// pre-encoded server frame to every socket with plain write(2) calls.
//
// It is not a server to copy: no limits, no origin check, no fragmented
// messages, no ping; a handshake must arrive in one read. A socket whose
// send buffer is full keeps the rest of its bytes in a pending buffer
// flushed on EPOLLOUT, so nothing is lost.
package main

import (
	"flag"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7272", "listen address (IPv4)")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().Is4() {
		log.Fatalf("floor: --listen %q: want an IPv4 address:port", *listen)
	}
	s, err := newServer(ap)
	if err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		s.stop()
	}()
	log.Printf("floor listening on %s", ap)
	if err := s.serve(); err != nil {
		log.Fatal(err)
	}
}
