package main

import (
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/cli"
)

// compressionOptions are the permessage-deflate flags of gateway and demo.
type compressionOptions struct {
	enabled   bool
	threshold int
}

func (o *compressionOptions) define(s *cli.Set) {
	s.Bool(&o.enabled, "compression", true, "accept permessage-deflate (RFC 7692) from clients that offer it, without context takeover; --compression=false turns it off")
	s.Int(&o.threshold, "compression-threshold", gateway.DefaultCompressionThreshold, "smallest message (payload bytes) sent compressed to clients that negotiated compression; smaller ones go uncompressed")
}

func (o *compressionOptions) apply(c *gateway.Config) {
	c.DisableCompression = !o.enabled
	c.CompressionThreshold = o.threshold
}
