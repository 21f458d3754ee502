package host

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/gatewarden/gatewarden/internal/wasmbin"
)

// nullGuest is a hand-written proxy-wasm module that does nothing: its request callback
// returns Continue at once. In front of a handler it measures the host's own cost per request.
func nullGuest() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	sec := func(id byte, body []byte) { out = wasmbin.AppendSection(out, id, body) }
	// types: 0 () -> (); 1 (i32,i32) -> (); 2 (i32,i32) -> i32; 3 (i32,i32,i32) -> i32; 4 (i32) -> (); 5 (i32) -> i32
	types := []byte{6,
		0x60, 0, 0,
		0x60, 2, 0x7f, 0x7f, 0,
		0x60, 2, 0x7f, 0x7f, 1, 0x7f,
		0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f,
		0x60, 1, 0x7f, 0,
		0x60, 1, 0x7f, 1, 0x7f}
	sec(1, types)
	funcs := []struct {
		name string
		typ  byte
		body []byte
	}{
		{"proxy_abi_version_0_2_1", 0, []byte{0x0b}},
		{"proxy_on_context_create", 1, []byte{0x0b}},
		{"proxy_on_vm_start", 2, []byte{0x41, 1, 0x0b}},
		{"proxy_on_configure", 2, []byte{0x41, 1, 0x0b}},
		{"proxy_on_request_headers", 3, []byte{0x41, 0, 0x0b}},
		{"proxy_on_delete", 4, []byte{0x0b}},
		{"proxy_on_memory_allocate", 5, []byte{0x41, 0x80, 0x80, 0x04, 0x0b}}, // 65536
	}
	fs := []byte{byte(len(funcs))}
	for _, f := range funcs {
		fs = append(fs, f.typ)
	}
	sec(3, fs)
	sec(5, []byte{1, 0, 2}) // memory: 2 pages
	ex := []byte{byte(len(funcs) + 1)}
	for i, f := range funcs {
		ex = append(wasmbin.AppendName(ex, f.name), 0, byte(i))
	}
	ex = append(wasmbin.AppendName(ex, "memory"), 2, 0)
	sec(7, ex)
	code := []byte{byte(len(funcs))}
	for _, f := range funcs {
		b := append([]byte{0}, f.body...)
		code = append(wasmbin.AppendU32(code, uint32(len(b))), b...)
	}
	sec(10, code)
	return out
}

func nullPlugin(tb testing.TB) *Plugin {
	ctx := context.Background()
	rt, err := NewRuntime(ctx, RuntimeConfig{Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	p, err := rt.LoadPlugin(ctx, PluginConfig{Name: "null", RootID: "null", VMID: "null", Wasm: nullGuest(), VMs: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	return p
}

// BenchmarkNullGuest: the host's own cost per request (stream, header pairs, three guest
// entries, the rebuilt request), with a guest that runs no code of its own.
func BenchmarkNullGuest(b *testing.B) {
	p := nullPlugin(b)
	benchRequestsWith(b, p.Middleware(okHandler), httptest.NewRequest("GET", "/api/items", nil))
}

// BenchmarkNullGuestSpaced: the same, each request after a 0.4 ms gap (see benchSpaced).
func BenchmarkNullGuestSpaced(b *testing.B) {
	p := nullPlugin(b)
	benchSpaced(b, p.Middleware(okHandler), httptest.NewRequest("GET", "/api/items", nil))
}
