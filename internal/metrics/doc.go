// Package metrics holds the Prometheus plumbing shared by the gatewayworker
// roles: a cheap fixed-bucket Histogram that hot paths update with atomics
// and that a prometheus.Collector exports at scrape time, a GRPCErrors
// counter fed by gRPC interceptors, and NewRegistry, the registry a process
// serves on /metrics.
//
// Every metric name starts with Namespace ("gatewayworker_"), then the role
// ("gateway_", "register_", "worker_"). The list of metrics, what each one
// counts and the alerts worth setting are in docs/operations.md.
package metrics
