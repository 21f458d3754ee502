# Gatewarden build, run and test targets. `make run` and `make test` are the two commands a
# newcomer needs; see README.md.

GO        ?= go
BUILD     := build
WASM      := $(BUILD)/gatewarden.wasm
BIN       := $(BUILD)/gatewarden
GOFILES   := $(shell find . -name '*.go' -not -path './build/*' 2>/dev/null)
FUZZTIME  ?= 30s
# WASM_KERNELS=1 (default) builds the filter with the hand-written wasm kernels spliced in
# (internal/wasmkern, cmd/wasmsplice; RSA about twice as fast); WASM_KERNELS=0 builds the
# plain Go module.
WASM_KERNELS ?= 1
KERNEL_TAGS := $(if $(filter 1,$(WASM_KERNELS)),-tags gatewarden_fast)
WAZERO_RUN = $(CURDIR)/$(BUILD)/tools/wazero run -mount /:/ -cachedir $(CURDIR)/$(BUILD)/wazero-cache

.PHONY: all build wasm run test e2e bench bench-go fuzz lint fmt check oci clean FORCE

all: build wasm

## wasm: the proxy-wasm filter, built with the standard Go toolchain (wasip1 reactor). Go's
## wasm backend emits no SIMD and no wide multiply, so the RSA Montgomery products are
## hand-written wasm (internal/wasmkern) that cmd/wasmsplice puts in place of their
## //go:wasmimport stubs; the splice fails the build if anything is missing or unknown.
wasm: $(WASM)
$(WASM): $(GOFILES) go.mod go.sum internal/wasmkern/kernels.wasm $(BUILD)/wasm-kernels
	@mkdir -p $(BUILD)
	GOOS=wasip1 GOARCH=wasm $(GO) build $(KERNEL_TAGS) -buildmode=c-shared -trimpath -ldflags="-s -w" -o $@.tmp ./filter
	$(if $(KERNEL_TAGS),$(GO) run ./cmd/wasmsplice $@.tmp)
	mv $@.tmp $@

# records WASM_KERNELS, so that changing it rebuilds the filter
$(BUILD)/wasm-kernels: FORCE
	@mkdir -p $(BUILD)
	@echo $(WASM_KERNELS) | cmp -s - $@ || echo $(WASM_KERNELS) > $@
FORCE:

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
	GOOS=wasip1 GOARCH=wasm $(GO) vet -tags gatewarden_fast ./filter/... ./jwt/...
	$(GO) test -race -short -count=1 ./...
	$(GO) test -race -count=1 ./host/...
	$(GO) test -count=1 ./...
	# jwt's tests again inside wazero, where its wasm-only fast paths are on by default:
	# once as plain Go, once with the wasm kernels spliced in (as the filter ships)
	PATH="$(CURDIR)/$(BUILD)/tools:$$($(GO) env GOROOT)/lib/wasm:$$PATH" GOWASIRUNTIME=wazero \
		GOOS=wasip1 GOARCH=wasm $(GO) test -count=1 ./jwt/
	GOOS=wasip1 GOARCH=wasm $(GO) test -c -tags gatewarden_fast -o $(BUILD)/jwt-kernels.unspliced.test ./jwt/
	$(GO) run ./cmd/wasmsplice -o $(BUILD)/jwt-kernels.test $(BUILD)/jwt-kernels.unspliced.test
	cd jwt && $(WAZERO_RUN) -env PWD=$(CURDIR)/jwt $(CURDIR)/$(BUILD)/jwt-kernels.test -test.count=1

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
	GOOS=wasip1 GOARCH=wasm $(GO) vet -tags gatewarden_fast ./filter/... ./jwt/...
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
