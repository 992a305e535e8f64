// Package multihost holds the multi-host scenario test of gatewayworker:
// three registers, two gateways and three chat workers, each on a host of
// its own built from Linux network namespaces (internal/netns), driven by
// WebSocket clients on another host. The test kills registers and workers,
// cuts a gateway's link and heals it, and checks and measures what the
// clients see. It needs root and skips elsewhere. It has no non-test code.
//
// The leader-lease tests run registers and worker processes (the test
// binary re-executed with one leader-only timer) on loopback
// (TestLeaderLeaseProcesses: ticks per second, SIGKILL handover) and on
// namespace hosts (TestMultiHostLeaderPartition: the leader's host is cut
// off). TestRegistersFormAtOnce starts three register processes within a
// second and times their forming one cluster.
//
// Measured times are logged as "MEASURE name=... ms=..." lines:
//
//	go test -count=1 -v -run TestMultiHost ./internal/multihost/ | grep MEASURE
package multihost
