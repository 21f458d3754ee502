# Gatewarden build, run and test targets. `make run` and `make test` are the two commands a
# newcomer needs; see README.md.

GO        ?= go
BUILD     := build
WASM      := $(BUILD)/gatewarden.wasm
BIN       := $(BUILD)/gatewarden
GOFILES   := $(shell find . -name '*.go' -not -path './build/*' 2>/dev/null)
FUZZTIME  ?= 30s

.PHONY: all build wasm run test e2e bench bench-go fuzz lint fmt check oci clean

all: build wasm

## wasm: the proxy-wasm filter, built with the standard Go toolchain (wasip1 reactor).
wasm: $(WASM)
$(WASM): $(GOFILES) go.mod go.sum
	@mkdir -p $(BUILD)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags="-s -w" -o $@ ./filter

## build: the gatewarden CLI (gateway, demo, OCI tools).
build: $(BIN)
$(BIN): $(GOFILES) go.mod go.sum
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -o $@ ./cmd/gatewarden

## run: the demo: gateway on :8080 with the filter, echo backend, dev issuer; prints a curl line.
run: build wasm
	$(BIN) demo --wasm $(WASM)

## test: every unit and integration test (the integration tests build and load the .wasm).
## The race detector runs on all native tests and on the host (its hammer tests drive real
## VMs); the .wasm integration tests run once without it, since under -race they mostly
## measure wazero's compiler being instrumented.
test: wasm $(BUILD)/tools/wazero
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./filter/... ./jwt/...
	$(GO) test -race -short -count=1 ./...
	$(GO) test -race -count=1 ./host/...
	$(GO) test -count=1 ./...
	# jwt's tests again inside wazero, where its wasm-only fast paths are on by default
	PATH="$(CURDIR)/$(BUILD)/tools:$$($(GO) env GOROOT)/lib/wasm:$$PATH" GOWASIRUNTIME=wazero \
		GOOS=wasip1 GOARCH=wasm $(GO) test -count=1 ./jwt/

## the wazero CLI at the version go.mod pins (runs wasip1 test binaries)
$(BUILD)/tools/wazero: go.mod
	$(GO) build -o $@ github.com/tetratelabs/wazero/cmd/wazero

## e2e: tests against real peers (Envoy, Keycloak, docker-registry); installs them if missing.
e2e: build wasm
	GATEWARDEN_WASM=$(CURDIR)/$(WASM) $(GO) test -tags e2e -count=1 -timeout 40m -v ./e2e/...

## bench: side-by-side benchmarks of Envoy, Envoy + jwt_authn, Envoy + our filter, a bare Go
## proxy and `gatewarden serve` (issue 8) -> docs/BENCHMARKS.md and docs/bench.png; about 9
## minutes; needs wrk (apt-get install -y wrk). BENCHFLAGS goes to bench/cmd/benchrun.
## Not part of test or CI.
bench: wasm build
	bench/run.sh $(BENCHFLAGS)

## bench-go: the Go micro-benchmarks of jwt, host and filter.
bench-go: wasm
	$(GO) test -run='^$$' -bench=. -benchmem ./jwt/ ./host/ ./filter/...

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; done

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./filter/... ./jwt/...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

## check: tidy + vet + fail on any diff.
check: lint
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

clean:
	rm -rf $(BUILD)

## oci: push build/gatewarden.wasm to a registry as an Istio-compatible image:
##   make oci REF=127.0.0.1:5000/gatewarden:dev [OCIFLAGS=--artifact]
oci: build wasm
	@test -n "$(REF)" || (echo "usage: make oci REF=REGISTRY/REPO:TAG [OCIFLAGS=--artifact]"; exit 2)
	$(BIN) oci push $(OCIFLAGS) $(WASM) $(REF)
