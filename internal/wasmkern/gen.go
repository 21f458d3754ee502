//go:build ignore

// gen.go writes kernels.wasm from the generator in this package: `go generate
// ./internal/wasmkern` (or `go run gen.go` here) after changing mont28.go.
package main

import (
	"os"

	"github.com/gatewarden/gatewarden/internal/wasmkern"
)

func main() {
	if err := os.WriteFile("kernels.wasm", wasmkern.Build(), 0o644); err != nil {
		panic(err)
	}
}
