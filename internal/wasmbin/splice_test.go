package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func sec(id byte, body ...byte) []byte { return AppendSection(nil, id, body) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// body encodes a function body without locals.
func body(code ...byte) []byte {
	b := append([]byte{0x00}, code...)
	return append(AppendU32(nil, uint32(len(b))), b...)
}

func vec(entries ...[]byte) []byte {
	return cat(AppendU32(nil, uint32(len(entries))), cat(entries...))
}

func imp(module, name string, typ byte) []byte {
	return append(AppendName(AppendName(nil, module), name), KindFunc, typ)
}

func export(name string, kind byte, idx byte) []byte {
	return append(AppendName(nil, name), kind, idx)
}

const fast = "gatewarden_fast"

// Types used by the test modules.
var (
	typeI32I32 = []byte{0x60, 1, 0x7F, 1, 0x7F} // (i32) -> i32
	typeVoid   = []byte{0x60, 0, 0}             // () -> ()
)

// target is a module shaped like a Go-built one, with kernels imported between other
// imports, so that removing them renumbers everything after:
//
//	func 0  import env.host: (i32) -> i32       returns x+1000
//	func 1  import gatewarden_fast.double: (i32) -> i32
//	func 2  import env.host2: (i32) -> i32      returns x+2000
//	func 3  import gatewarden_fast.square: (i32) -> i32
//	func 4  run(x) = host(double(x)) + host2(square(x))     exported "run"
//	func 5  viaTable(x) = call_indirect table[1](x)          exported "table"; table = [4, 3]
//	func 6  start: stores 7 at memory[0]                     start
//
// plus a name section naming every function.
func target(extra ...[]byte) []byte {
	names := vec(
		append(AppendU32(nil, 0), AppendName(nil, "host")...),
		append(AppendU32(nil, 1), AppendName(nil, "double")...),
		append(AppendU32(nil, 2), AppendName(nil, "host2")...),
		append(AppendU32(nil, 3), AppendName(nil, "square")...),
		append(AppendU32(nil, 4), AppendName(nil, "run")...),
		append(AppendU32(nil, 5), AppendName(nil, "viaTable")...),
		append(AppendU32(nil, 6), AppendName(nil, "start")...),
	)
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec(typeI32I32, typeVoid)...),
		sec(SecImport, vec(imp("env", "host", 0), imp(fast, "double", 0), imp("env", "host2", 0), imp(fast, "square", 0))...),
		sec(SecFunction, vec([]byte{0}, []byte{0}, []byte{1})...),
		sec(SecTable, 1, 0x70, 0x00, 2),
		sec(SecMemory, 1, 0x00, 1),
		sec(SecExport, vec(export("run", KindFunc, 4), export("table", KindFunc, 5), export("memory", KindMemory, 0))...),
		sec(SecStart, 6),
		sec(SecElement, vec([]byte{0x00, 0x41, 0, 0x0B, 2, 4, 3})...),
		sec(SecCode, vec(
			body(0x20, 0, 0x10, 1, 0x10, 0, 0x20, 0, 0x10, 3, 0x10, 2, 0x6A, 0x0B),
			body(0x20, 0, 0x41, 1, 0x11, 0, 0, 0x0B),
			body(0x41, 0, 0x41, 7, 0x36, 2, 0, 0x0B),
		)...),
		cat(extra...),
		sec(SecCustom, cat(AppendName(nil, "name"), AppendSection(nil, 1, names))...),
	)
}

// kernels exports double(x) = 2x and square(x) = x*x, and a memory.
func kernels(extra ...[]byte) []byte {
	code := [][]byte{
		body(0x20, 0, 0x20, 0, 0x6A, 0x0B),
		body(0x20, 0, 0x20, 0, 0x6C, 0x0B),
	}
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec(typeI32I32)...),
		sec(SecFunction, vec([]byte{0}, []byte{0})...),
		sec(SecMemory, 1, 0x00, 1),
		sec(SecExport, vec(export("double", KindFunc, 0), export("square", KindFunc, 1))...),
		sec(SecCode, vec(append(code, extra...)...)...),
	)
}

func instantiate(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	_, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(x uint32) uint32 { return x + 1000 }).Export("host").
		NewFunctionBuilder().WithFunc(func(x uint32) uint32 { return x + 2000 }).Export("host2").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func TestSpliceRenumbers(t *testing.T) {
	out, err := Splice(target(sec(SecCustom, AppendName(nil, "go:buildid")...)), kernels(), fast, []string{"double", "square"})
	if err != nil {
		t.Fatal(err)
	}
	mod := instantiate(t, out)
	ctx := context.Background()
	res, err := mod.ExportedFunction("run").Call(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(10 + 1000 + 25 + 2000); res[0] != want {
		t.Errorf("run(5) = %d, want %d", res[0], want)
	}
	// table[1] was the square import: it must now be the spliced square.
	if res, err := mod.ExportedFunction("table").Call(ctx, 9); err != nil || res[0] != 81 {
		t.Errorf("table(9) = %v %v, want 81", res, err)
	}
	if b, _ := mod.Memory().ReadByte(0); b != 7 {
		t.Errorf("start function did not run: memory[0] = %d", b)
	}
	m, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.FuncImports != 2 || len(m.FuncTypes) != 5 {
		t.Errorf("%d imports and %d functions, want 2 and 5", m.FuncImports, len(m.FuncTypes))
	}
	// Names follow their functions, in index order; Go's build ID is gone.
	var names []string
	for _, s := range m.Sections {
		if s.Name == "go:buildid" {
			t.Error("the go:buildid section was kept")
		}
		if s.Name != "name" {
			continue
		}
		r := &Reader{B: s.Body}
		r.Name()
		if id := r.Byte(); id != 1 {
			t.Fatalf("name subsection %d", id)
		}
		sub := &Reader{B: r.Bytes(int(r.U32()))}
		n := sub.U32()
		for i := uint32(0); i < n; i++ {
			if idx := sub.U32(); idx != i {
				t.Fatalf("name entry %d has index %d", i, idx)
			}
			names = append(names, sub.Name())
		}
	}
	if got, want := strings.Join(names, " "), "host host2 run viaTable start double square"; got != want {
		t.Errorf("names %q, want %q", got, want)
	}
}

func TestSpliceRefuses(t *testing.T) {
	callKernel := body(0x20, 0, 0x10, 0, 0x0B)    // call 0
	globalKernel := body(0x23, 0, 0x0B)           // global.get 0
	memGrowKernel := body(0x20, 0, 0x40, 0, 0x0B) // memory.grow
	otherMemory := body(0x20, 0, 0x28, 0x42, 1, 0, 0x0B)
	for _, tc := range []struct {
		name             string
		target, kernels  []byte
		required         []string
		wantErrSubstring string
	}{
		{"required import missing", target(), kernels(), []string{"double", "cube"}, "does not import"},
		{"import without kernel", target(), kernelsNamed("double", "other"), nil, "has no kernel"},
		{"type mismatch", target(), kernelsTyped(), nil, "another type"},
		{"kernel calls", target(), kernelsWith(callKernel), nil, "not allowed"},
		{"kernel reads a global", target(), kernelsWith(globalKernel), nil, "not allowed"},
		{"kernel grows memory", target(), kernelsWith(memGrowKernel), nil, "not allowed"},
		{"kernel uses memory 1", target(), kernelsWith(otherMemory), nil, "not allowed"},
		{"unknown custom section", target(sec(SecCustom, AppendName(nil, ".debug_info")...)), kernels(), nil, "custom section"},
		{"kernel module imports", target(), kernelsImporting(), nil, "must not import"},
		{"not wasm", []byte("nope"), kernels(), nil, "not a version 1"},
		{"section out of order", target(sec(SecType, vec(typeVoid)...)), kernels(), nil, "out of order"},
		{"second name section", target(sec(SecCustom, AppendName(nil, "name")...)), kernels(), nil, "second name section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Splice(tc.target, tc.kernels, fast, tc.required)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.wantErrSubstring) {
				t.Fatalf("err = %v, want ErrUnsupported with %q", err, tc.wantErrSubstring)
			}
		})
	}
}

// kernelsWith replaces the square kernel's body.
func kernelsWith(square []byte) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec(typeI32I32)...),
		sec(SecFunction, vec([]byte{0}, []byte{0})...),
		sec(SecExport, vec(export("double", KindFunc, 0), export("square", KindFunc, 1))...),
		sec(SecCode, vec(body(0x20, 0, 0x20, 0, 0x6A, 0x0B), square)...),
	)
}

func kernelsNamed(a, b string) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec(typeI32I32)...),
		sec(SecFunction, vec([]byte{0}, []byte{0})...),
		sec(SecExport, vec(export(a, KindFunc, 0), export(b, KindFunc, 1))...),
		sec(SecCode, vec(body(0x20, 0, 0x0B), body(0x20, 0, 0x0B))...),
	)
}

func kernelsTyped() []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec([]byte{0x60, 1, 0x7E, 1, 0x7E})...), // (i64) -> i64
		sec(SecFunction, vec([]byte{0}, []byte{0})...),
		sec(SecExport, vec(export("double", KindFunc, 0), export("square", KindFunc, 1))...),
		sec(SecCode, vec(body(0x20, 0, 0x0B), body(0x20, 0, 0x0B))...),
	)
}

func kernelsImporting() []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec(typeI32I32)...),
		sec(SecImport, vec(imp("env", "host", 0))...),
	)
}

func TestSpliceWithoutKernelImports(t *testing.T) {
	mod := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(SecType, vec(typeVoid)...),
		sec(SecFunction, vec([]byte{0})...),
		sec(SecMemory, 1, 0x00, 1),
		sec(SecCode, vec(body(0x0B))...),
	)
	out, err := Splice(mod, kernels(), fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(mod) {
		t.Error("a module without kernel imports changed")
	}
}

// FuzzSplice: any target either is refused or comes out as a module without kernel imports
// that wazero accepts whenever it accepted the input with the kernel imports provided.
func FuzzSplice(f *testing.F) {
	f.Add(target())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Splice(wasm, kernels(), fast, nil)
		if err != nil {
			return
		}
		if plausible(wasm) {
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			if _, err := rt.CompileModule(ctx, wasm); err == nil {
				if _, err := rt.CompileModule(ctx, out); err != nil {
					t.Fatalf("wazero accepts the module but not its spliced form: %v", err)
				}
			}
		}
		m, err := Parse(out)
		if err != nil {
			t.Fatalf("spliced module does not parse: %v", err)
		}
		for _, im := range m.Imports {
			if im.Module == fast {
				t.Fatal("spliced module still imports from " + fast)
			}
		}
	})
}

// plausible reports whether every non-custom section's leading count fits in its bytes: wazero
// allocates vectors by their declared count before reading them, so a fuzzed count of billions
// exhausts memory inside wazero.
func plausible(wasm []byte) bool {
	if len(wasm) < 8 {
		return false
	}
	r := &Reader{B: wasm[8:]}
	for !r.Done() && r.Err == nil {
		id := r.Byte()
		body := r.Bytes(int(r.U32()))
		if id == SecCustom || id == SecStart || id == SecDataCount {
			continue
		}
		br := &Reader{B: body}
		if n := br.U32(); br.Err != nil || int(n) > len(body) {
			return false
		}
	}
	return r.Err == nil
}

// TestNamesDropsWhatWouldMislead: function names past the old index space and label names
// (keyed by function index too) are dropped, so no name lands on the wrong function.
func TestNamesDropsWhatWouldMislead(t *testing.T) {
	entry := func(idx uint32, name string) []byte { return AppendName(AppendU32(nil, idx), name) }
	funcs := vec(entry(0, "a"), entry(1, "b"), entry(7, "ghost"))
	labels := vec(append(AppendU32(nil, 1), vec(entry(0, "label"))...))
	body := cat(AppendName(nil, "name"), AppendSection(nil, 1, funcs), AppendSection(nil, 3, labels))
	rn := &Renumber{NumFuncs: 2, Map: func(i uint32) uint32 { return i + 5 }}
	out, err := rn.Names(body, true)
	if err != nil {
		t.Fatal(err)
	}
	want := cat(AppendName(nil, "name"), AppendSection(nil, 1, vec(entry(5, "a"), entry(6, "b"))))
	if !bytes.Equal(out, want) {
		t.Fatalf("names % x, want % x", out, want)
	}
}
