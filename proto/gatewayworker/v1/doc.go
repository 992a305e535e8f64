// Package gatewayworkerv1 is the gRPC contract between the roles of
// gatewayworker: the Register service (gateways announce, workers and push
// clients watch) and the Gateway service (the Link stream of each worker or
// push client). The *.pb.go files are generated from the *.proto files
// beside this one by `make proto`; do not edit them.
package gatewayworkerv1
