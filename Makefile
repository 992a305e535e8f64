# gatewayworker — see README.md. Every target is safe to run on a fresh
# Debian machine with Go; .ci/run installs the Debian packages the tests use.

GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
PKGS      ?= ./...
# Pinned code generators (make proto).
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1
STATICCHECK_VERSION        ?= v0.8.2
FUZZTIME  ?= 20s

.PHONY: all build test race integ delivery-full lint vet staticcheck fmt-check tidy-check api-check api-golden proto proto-check bench bench-compare cover run fuzz clean

all: build test

build: ## build the gatewayworker binary into bin/
	$(GO) build -o bin/gatewayworker ./cmd/gatewayworker
	$(GO) build -o bin/gwbench ./cmd/gwbench

run: ## the all-in-one demo: chat page on http://127.0.0.1:8080/
	$(GO) run ./cmd/gatewayworker demo

test: ## the default test run (race detector on, shuffled): what CI runs
	$(GO) test -race -shuffle=on -count=1 -timeout 8m $(PKGS)

race: test

integ: ## only the end-to-end tests
	$(GO) test -race -count=1 -v -run 'TestE2E|TestBrowser|TestMultiHost' ./internal/e2e/ ./internal/multihost/ ./cmd/gatewayworker/

delivery-full: ## the delivery scenarios at full size (slow handler x 40,000 messages, 40 s stuck handler, SIGKILL mid-burst; ~3 min, no race detector)
	GW_DELIVERY_FULL=1 $(GO) test -count=1 -timeout 20m -v -run '^TestDelivery' ./internal/e2e/

cover:
	$(GO) test -count=1 -coverprofile=cover.out $(PKGS) && $(GO) tool cover -func=cover.out | tail -1

lint: vet staticcheck fmt-check tidy-check proto-check api-check

api-check: ## the public API matches api/exported.txt (after a deliberate change: make api-golden)
	$(GO) run ./internal/tools/apigolden

api-golden: ## rewrite api/exported.txt from the code
	$(GO) run ./internal/tools/apigolden -write

vet:
	$(GO) vet $(PKGS)

staticcheck:
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy
	git diff --exit-code -- go.mod go.sum

proto: ## regenerate proto/gatewayworker/v1/*.pb.go (needs protoc: apt-get install protobuf-compiler)
	GOBIN=$(GOBIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(GOBIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(GOBIN):$$PATH protoc -I proto \
		--go_out=. --go_opt=module=github.com/gatewayworker/gatewayworker \
		--go-grpc_out=. --go-grpc_opt=module=github.com/gatewayworker/gatewayworker \
		proto/gatewayworker/v1/*.proto

proto-check: proto ## fails when the committed generated code is stale
	git diff --exit-code -- proto/

bench: ## Go micro-benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200ms $(PKGS)

# make bench-compare: quick sizes (~2 min); FULL=1: the issue's sizes (~30 min);
# REPEAT=N runs each scenario N times (medians); COMPARE_FLAGS passes more
# flags to bench/compare.sh (--servers, --scenarios, --out).
bench-compare: ## load runs of ours and the peers side by side, one table with ratios (see docs/benchmarks.md)
	bash bench/compare.sh $(if $(FULL),--full,--quick) --repeat $(or $(REPEAT),1) $(COMPARE_FLAGS)

.PHONY: bench-scale bench-scale-curve bench-mesh

# make bench-scale: 95,000 clients over five gateway processes (register, two
# workers) and over five floor processes, same clients and rates (about 4 min on
# 2 cores); SCALE_FLAGS passes flags to bench/scale.sh (--conns 5000
# --duration 10s for a quick look). The last line is one JSON object.
bench-scale: ## the scale benchmark on one box, side by side with the floor (see docs/benchmarks.md)
	bash bench/scale.sh $(SCALE_FLAGS)

# make bench-scale-curve: bench-scale at several sizes and gateway counts
# (CURVE_CONNS, CURVE_GATEWAYS), then the table and plot of docs/benchmarks.md.
bench-scale-curve: ## cost curves: bench-scale at 1k..95k connections and 1, 2, 5 gateways
	bash bench/curve.sh $(CURVE_FLAGS)

# make bench-mesh: 64 gateways, 16 workers, 3 registers on one box, and the
# same at 4 and 16 gateways (MESH_FLAGS passes flags to bench/mesh.sh).
bench-mesh: ## the mesh simulation: link times, SendToAll latency, per-link cost (see docs/benchmarks.md)
	bash bench/mesh.sh $(MESH_FLAGS)

fuzz: ## each fuzz target for FUZZTIME
	bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin cover.out
