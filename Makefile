PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1
GOBIN ?= $(shell go env GOPATH)/bin

.PHONY: proto
proto: ## regenerate proto/gatewayworker/v1/*.pb.go
	GOBIN=$(GOBIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(GOBIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(GOBIN):$$PATH protoc -I proto \
		--go_out=. --go_opt=module=github.com/gatewayworker/gatewayworker \
		--go-grpc_out=. --go-grpc_opt=module=github.com/gatewayworker/gatewayworker \
		proto/gatewayworker/v1/*.proto
