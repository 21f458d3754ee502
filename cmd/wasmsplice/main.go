// Command wasmsplice puts the hand-written wasm kernels of internal/wasmkern into a module
// built by Go with the gatewarden_fast build tag, in place of the //go:wasmimport stubs
// that call them (see internal/wasmbin.Splice for the rules it enforces).
//
//	wasmsplice -o out.wasm in.wasm
//
// It is a build tool (the Makefile runs it on the filter and on the jwt test binary), not
// part of the gatewarden CLI that operators run. It refuses to splice when
// internal/wasmkern/kernels.wasm is stale (its generators changed without go generate). It exits non-zero, writing nothing, when
// the module does not import every kernel, imports anything from gatewarden_fast that is
// not a kernel, or does not compile in wazero after the splice.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatewarden/gatewarden/internal/wasmbin"
	"github.com/gatewarden/gatewarden/internal/wasmkern"
	"github.com/tetratelabs/wazero"
)

func main() {
	out := flag.String("o", "", "output file (default: replace the input)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: wasmsplice [-o out.wasm] in.wasm")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	in := flag.Arg(0)
	if *out == "" {
		*out = in
	}
	if err := run(in, *out); err != nil {
		fmt.Fprintf(os.Stderr, "wasmsplice: %s: %v\n", in, err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	// The kernels ship as the committed kernels.wasm (the bytes the kernel tests run); refuse
	// it when the generators have changed since, so a build never splices stale kernels.
	if !bytes.Equal(wasmkern.Build(), wasmkern.Module()) {
		return fmt.Errorf("internal/wasmkern/kernels.wasm is stale: run go generate ./internal/wasmkern, then its tests")
	}
	res, err := wasmbin.Splice(src, wasmkern.Module(), wasmkern.ImportModule, wasmkern.Names())
	if err != nil {
		return fmt.Errorf("%w (build it with -tags gatewarden_fast)", err)
	}
	// Validate: the runtime must accept the result.
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, res); err != nil {
		return fmt.Errorf("spliced module does not compile: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".wasmsplice-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(res); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil { // test binaries are run by the go tool
		return err
	}
	return os.Rename(tmp.Name(), out)
}
