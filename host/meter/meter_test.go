package meter

import (
	"context"
	"errors"
	"testing"

	"github.com/gatewarden/gatewarden/internal/wasmbin"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// sec encodes a section.
func sec(id byte, body ...byte) []byte {
	return append(append([]byte{id}, wasmbin.AppendU32(nil, uint32(len(body)))...), body...)
}

// fnBody encodes a function body without locals.
func fnBody(code ...byte) []byte {
	b := append([]byte{0x00}, code...) // no local groups
	return append(wasmbin.AppendU32(nil, uint32(len(b))), b...)
}

// withLocals encodes a function body with the given local declarations.
func withLocals(locals []byte, code ...byte) []byte {
	b := append(append([]byte(nil), locals...), code...)
	return append(wasmbin.AppendU32(nil, uint32(len(b))), b...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// testModule is a hand-assembled module that uses what the rewrite must renumber or keep: a
// function import, calls, a loop, call_indirect through an element segment, a start function,
// function and global exports, and a loop-free exponential recursion.
//
//	import env.inc: () -> ()                         func 0
//	run(n): loop n times calling inc; return g       func 1
//	indirect(n): call_indirect run(n) via table[0]   func 2
//	start: g = 7; inc()                              func 3
//	fib(n): n < 2 ? n : fib(n-1) + fib(n-2)          func 4
func testModule() []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(wasmbin.SecType, 2, 0x60, 1, 0x7F, 1, 0x7F, 0x60, 0, 0),
		sec(wasmbin.SecImport, 1, 3, 'e', 'n', 'v', 3, 'i', 'n', 'c', 0x00, 1),
		sec(wasmbin.SecFunction, 4, 0, 0, 1, 0),
		sec(wasmbin.SecTable, 1, 0x70, 0x00, 1),
		sec(wasmbin.SecGlobal, 1, 0x7F, 0x01, 0x41, 0, 0x0B),
		sec(wasmbin.SecExport, 4,
			3, 'r', 'u', 'n', 0x00, 1,
			8, 'i', 'n', 'd', 'i', 'r', 'e', 'c', 't', 0x00, 2,
			3, 'f', 'i', 'b', 0x00, 4,
			1, 'g', 0x03, 0),
		sec(wasmbin.SecStart, 3),
		sec(wasmbin.SecElement, 1, 0x00, 0x41, 0, 0x0B, 1, 1),
		sec(wasmbin.SecCode, cat([]byte{4},
			fnBody(
				0x02, 0x40, // block
				0x03, 0x40, // loop
				0x20, 0, 0x45, 0x0D, 1, // local.get 0; i32.eqz; br_if 1
				0x10, 0, // call inc
				0x20, 0, 0x41, 1, 0x6B, 0x21, 0, // n = n - 1
				0x0C, 0, // br 0
				0x0B, 0x0B, // end loop, end block
				0x23, 0, 0x0B), // global.get 0; end
			fnBody(0x20, 0, 0x41, 0, 0x11, 0, 0, 0x0B), // local.get 0; i32.const 0; call_indirect type 0 table 0
			fnBody(0x41, 7, 0x24, 0, 0x10, 0, 0x0B),    // g = 7; call inc
			fnBody(
				0x20, 0, 0x41, 2, 0x48, // n < 2
				0x04, 0x7F, // if (result i32)
				0x20, 0,
				0x05, // else
				0x20, 0, 0x41, 1, 0x6B, 0x10, 4,
				0x20, 0, 0x41, 2, 0x6B, 0x10, 4,
				0x6A, // i32.add
				0x0B, 0x0B),
		)...),
		// name section, function names: 1 "run_impl", 4 "fib_impl" (renumbered by the rewrite)
		sec(wasmbin.SecCustom, cat([]byte{4, 'n', 'a', 'm', 'e', 1, 21, 2},
			[]byte{1, 8, 'r', 'u', 'n', '_', 'i', 'm', 'p', 'l'},
			[]byte{4, 8, 'f', 'i', 'b', '_', 'i', 'm', 'p', 'l'})...),
		sec(wasmbin.SecCustom, 3, 'x', 'y', 'z', 1, 2, 3), // kept
	)
}

type counts struct{ inc, ticks int }

// load instantiates wasm with env.inc and the meter's tick counting their calls.
func load(t testing.TB, wasm []byte, tick func()) (api.Module, *counts) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	c := &counts{}
	if _, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func() { c.inc++ }).Export("inc").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewHostModuleBuilder(Module).NewFunctionBuilder().
		WithFunc(func() {
			c.ticks++
			if tick != nil {
				tick()
			}
		}).Export(Tick).Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func call(t testing.TB, m api.Module, name string, args ...uint64) uint64 {
	res, err := m.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res[0]
}

func TestInstrumentKeepsBehaviour(t *testing.T) {
	orig := testModule()
	inst, err := Instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	plain, pc := load(t, orig, nil)
	metered, mc := load(t, inst, nil)
	if pc.inc != 1 || mc.inc != 1 {
		t.Fatalf("start function ran %d / %d times, want 1", pc.inc, mc.inc)
	}
	for _, tc := range []struct {
		fn   string
		arg  uint64
		want uint64
	}{
		{"run", 10000, 7},
		{"indirect", 300, 7},
		{"fib", 20, 6765},
	} {
		if got := call(t, plain, tc.fn, tc.arg); got != tc.want {
			t.Fatalf("plain %s(%d) = %d, want %d", tc.fn, tc.arg, got, tc.want)
		}
		if got := call(t, metered, tc.fn, tc.arg); got != tc.want {
			t.Fatalf("metered %s(%d) = %d, want %d", tc.fn, tc.arg, got, tc.want)
		}
	}
	if pc.inc != mc.inc {
		t.Fatalf("inc called %d times plainly, %d metered", pc.inc, mc.inc)
	}
	if pc.ticks != 0 {
		t.Fatalf("the plain module ticked %d times", pc.ticks)
	}
	// Budget units: run(10000) is 1 entry + 10001 loop headers, charged 256 at a time (39
	// batches); indirect(300) 2 entries + 1 batch; fib(20) 21891 entries and no loop; start 1.
	units := (1 + 39*256) + (2 + 256) + 21891 + 1
	if want := units / Interval; mc.ticks < want-1 || mc.ticks > want+1 {
		t.Fatalf("%d ticks for %d budget units, want about %d", mc.ticks, units, want)
	}
	for export, want := range map[string]string{"run": "run_impl", "fib": "fib_impl"} {
		for _, m := range []api.Module{plain, metered} {
			if got := m.ExportedFunction(export).Definition().Name(); got != want {
				t.Errorf("%s is named %q, want %q (name section)", export, got, want)
			}
		}
	}
	if g := metered.ExportedGlobal("g"); g == nil || g.Get() != 7 {
		t.Fatal("the global export was lost or renumbered")
	}
}

func TestInstrumentedLoopStopsAtTick(t *testing.T) {
	inst, err := Instrument(testModule())
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("deadline")
	var ticks int
	m, _ := load(t, inst, func() {
		ticks++
		if ticks == 3 {
			panic(stop)
		}
	})
	_, err = m.ExportedFunction("run").Call(context.Background(), 1<<31)
	if err == nil || !errors.Is(err, stop) {
		t.Fatalf("a panicking tick did not stop the loop: %v", err)
	}
	if ticks != 3 {
		t.Fatalf("%d ticks, want 3", ticks)
	}
}

func TestInstrumentAddsSectionsWhenMissing(t *testing.T) {
	// No type, import or global section: a function that loops forever is all there is.
	mod := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(wasmbin.SecType, 1, 0x60, 0, 0),
		sec(wasmbin.SecFunction, 1, 0),
		sec(wasmbin.SecExport, 1, 4, 's', 'p', 'i', 'n', 0x00, 0),
		// spin has locals (2 x i64, 1 x i32) that the counter local must come after
		sec(wasmbin.SecCode, cat([]byte{1}, withLocals([]byte{2, 2, 0x7E, 1, 0x7F},
			0x03, 0x40, 0x20, 2, 0x41, 1, 0x6A, 0x21, 2, 0x0C, 0, 0x0B, 0x0B))...),
	)
	inst, err := Instrument(mod)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("deadline")
	m, c := load(t, inst, func() { panic(stop) })
	if _, err := m.ExportedFunction("spin").Call(context.Background()); !errors.Is(err, stop) {
		t.Fatalf("spin: %v", err)
	}
	if c.ticks != 1 {
		t.Fatalf("%d ticks", c.ticks)
	}
}

func TestInstrumentRejects(t *testing.T) {
	for name, mod := range map[string][]byte{
		"not wasm":        []byte("hello world"),
		"version 2":       []byte("\x00asm\x02\x00\x00\x00"),
		"unknown section": cat([]byte("\x00asm\x01\x00\x00\x00"), sec(42, 0)),
		"truncated":       testModule()[:40],
		"unknown opcode": cat([]byte("\x00asm\x01\x00\x00\x00"),
			sec(wasmbin.SecType, 1, 0x60, 0, 0), sec(wasmbin.SecFunction, 1, 0),
			sec(wasmbin.SecCode, cat([]byte{1}, fnBody(0xFB, 0x0B))...)),
		"GC type": cat([]byte("\x00asm\x01\x00\x00\x00"), sec(wasmbin.SecType, 1, 0x5F, 0)),
		// Invalid modules whose indices would reach the meter's own local, global or tick
		// import after the rewrite (turning them valid, with the checks switched off).
		"local past the function's": cat([]byte("\x00asm\x01\x00\x00\x00"),
			sec(wasmbin.SecType, 1, 0x60, 0, 0), sec(wasmbin.SecFunction, 1, 0),
			sec(wasmbin.SecCode, cat([]byte{1}, fnBody(0x41, 1, 0x21, 0, 0x0B))...)), // local.set 0, no locals
		"global past the module's": cat([]byte("\x00asm\x01\x00\x00\x00"),
			sec(wasmbin.SecType, 1, 0x60, 0, 0), sec(wasmbin.SecFunction, 1, 0),
			sec(wasmbin.SecCode, cat([]byte{1}, fnBody(0x41, 1, 0x24, 0, 0x0B))...)), // global.set 0, no globals
		"call past the module's functions": cat([]byte("\x00asm\x01\x00\x00\x00"),
			sec(wasmbin.SecType, 1, 0x60, 0, 0), sec(wasmbin.SecFunction, 1, 0),
			sec(wasmbin.SecCode, cat([]byte{1}, fnBody(0x10, 1, 0x0B))...)), // call 1, one function
		"exported global past the module's": cat([]byte("\x00asm\x01\x00\x00\x00"),
			sec(wasmbin.SecExport, 1, 1, 'g', 0x03, 0)),
	} {
		if _, err := Instrument(mod); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
}

// TestBulkOperationsAreCharged: a loop whose body is one large memory.fill ticks about once
// per fill (1 + n/1024 units for n bytes), not once per 4096 iterations.
func TestBulkOperationsAreCharged(t *testing.T) {
	// fill(): loop forever { n++; memory.fill(0, 0, 4 MiB) }, n an exported global
	mod := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(wasmbin.SecType, 1, 0x60, 0, 0),
		sec(wasmbin.SecFunction, 1, 0),
		sec(wasmbin.SecMemory, 1, 0x00, 64),
		sec(wasmbin.SecGlobal, 1, 0x7F, 0x01, 0x41, 0, 0x0B),
		sec(wasmbin.SecExport, 2, 4, 'f', 'i', 'l', 'l', 0x00, 0, 1, 'n', 0x03, 0),
		sec(wasmbin.SecCode, cat([]byte{1}, fnBody(0x03, 0x40,
			0x23, 0, 0x41, 1, 0x6A, 0x24, 0, // n++
			0x41, 0, 0x41, 0, 0x41, 0x80, 0x80, 0x80, 0x02, // i32.const 0; i32.const 0; i32.const 4 MiB
			0xFC, 11, 0, // memory.fill
			0x0C, 0, 0x0B, 0x0B))...),
	)
	inst, err := Instrument(mod)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("deadline")
	ticks := 0
	m, _ := load(t, inst, func() {
		ticks++
		if ticks == 3 {
			panic(stop)
		}
	})
	if _, err := m.ExportedFunction("fill").Call(context.Background()); !errors.Is(err, stop) {
		t.Fatalf("fill: %v", err)
	}
	// Charged by size, 3 ticks come within about 3 fills; charged per iteration they would
	// take 3*4096.
	if n := m.ExportedGlobal("n").Get(); n > 10 {
		t.Fatalf("%d fills of 4 MiB before the third tick: bulk operations are not charged by size", n)
	}
}

// FuzzInstrument: any input either is refused or comes out as a module that wazero accepts
// whenever it accepted the input.
func FuzzInstrument(f *testing.F) {
	f.Add(testModule())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		inst, err := Instrument(wasm)
		if err != nil {
			return
		}
		if !plausible(wasm) {
			return
		}
		ctx := context.Background()
		r := wazero.NewRuntime(ctx)
		defer r.Close(ctx)
		if _, err := r.CompileModule(ctx, wasm); err != nil {
			return
		}
		if _, err := r.CompileModule(ctx, inst); err != nil {
			t.Fatalf("wazero accepts the module but not its instrumented form: %v", err)
		}
	})
}

// plausible reports whether every non-custom section's leading count fits in its bytes: wazero
// allocates vectors by their declared count before reading them, so a fuzzed count of billions
// exhausts memory inside wazero (not in Instrument).
func plausible(wasm []byte) bool {
	r := &wasmbin.Reader{B: wasm[8:]}
	for !r.Done() && r.Err == nil {
		id := r.Byte()
		body := r.Bytes(int(r.U32()))
		if id == wasmbin.SecCustom || id == wasmbin.SecStart || id == wasmbin.SecDataCount {
			continue
		}
		br := &wasmbin.Reader{B: body}
		if n := br.U32(); br.Err != nil || int(n) > len(body) {
			return false
		}
	}
	return r.Err == nil
}
