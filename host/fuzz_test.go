package host

import (
	"context"
	"encoding/binary"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// lastPanic records a panic out of a host call driven by run; the fuzz
// targets fail on it.
var lastPanic any

// withVM runs fn on the worker of a one-VM plugin, inside a stream context
// in the request phase, so host functions can be driven directly.
func withVM(tb testing.TB) (run func(fn func(v *vm)), cleanup func()) {
	e := newEnv(tb, func(c *PluginConfig) { c.VMs = 1 })
	return withVMOf(tb, e.p)
}

func withVMOf(tb testing.TB, p *Plugin) (run func(fn func(v *vm)), cleanup func()) {
	hr := httptest.NewRequest("GET", "/fuzz?x=1", nil)
	hr.Header.Set("X-Test", "pass")
	hr.Header.Set("Authorization", "Bearer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	hr.Header.Set("User-Agent", "bench")
	pairs := requestPairs(hr)
	run = func(fn func(v *vm)) {
		// Random writes into guest memory can corrupt the guest, which
		// then traps and is replaced: always use the current VM.
		var v *vm
		for v = p.vms[0].Load(); v == nil || v.dead.Load(); v = p.vms[0].Load() {
			time.Sleep(time.Millisecond)
		}
		s := newStream(p, v, hr)
		s.id, s.phase, s.waiting = 999, phaseRequest, true
		s.reqHdr = hmap{kv: append([]kv(nil), pairs...), ok: true}
		done := make(chan struct{})
		var panicked any
		defer func() {
			if panicked != nil {
				lastPanic = panicked
			}
		}()
		if !v.post(context.Background(), task{kind: taskFunc, fn: func(v *vm) {
			defer close(done)
			defer func() {
				r := recover()
				if err, ok := r.(error); ok {
					if _, hostBug := r.(runtime.Error); !hostBug {
						// The guest died (random writes corrupted it) inside
						// its allocator: alloc panics to unwind, by design.
						v.broken = err
						return
					}
				}
				panicked = r
			}()
			v.streams[s.id] = s
			v.setEffective(s)
			fn(v)
			v.setEffective(nil)
			delete(v.streams, s.id)
			v.pending = v.pending[:0]
			// Nothing in the guest takes what the host allocated; free it so
			// a long fuzz run does not exhaust guest memory.
			if f := v.mod.ExportedFunction("test_release_pinned"); f != nil {
				v.call(f)
			}
		}}) {
			return
		}
		select {
		case <-done:
		case <-v.deadCh:
		}
	}
	return run, func() {}
}

// FuzzHostCalls calls every env import with arbitrary arguments: the host
// must answer with a status, never panic, and never write outside memory.
func FuzzHostCalls(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(9), []byte{0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0})
	f.Add(uint8(36), []byte("request\x00path"))
	f.Add(uint8(13), []byte{0xff, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff})
	run, cleanup := withVM(f)
	defer cleanup()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		h := envImports[int(which)%len(envImports)]
		if h.name == "proxy_set_tick_period_milliseconds" || h.name == "proxy_http_call" {
			return // side effects (timers, network) outside the VM
		}
		var st [12]uint64
		for i := range st {
			if len(data) >= 4 {
				st[i] = uint64(binary.LittleEndian.Uint32(data))
				data = data[4:]
			} else if len(data) > 0 {
				st[i] = uint64(data[0])
				data = data[1:]
			}
		}
		run(func(v *vm) {
			mem := v.mod.Memory()
			// Keep some pointers inside memory so the deeper paths run.
			size := uint64(mem.Size())
			for i := range st {
				if st[i]&1 == 0 && size > 0 {
					st[i] %= size
				}
			}
			got := h.fn(v, mem, st[:])
			if got > statusUnimplemented {
				t.Errorf("%s returned status %d", h.name, got)
			}
		})
		if p := lastPanic; p != nil {
			lastPanic = nil
			t.Fatalf("%s%v panicked: %v", h.name, st, p)
		}
	})
}

// FuzzPropertyPath looks up arbitrary property paths.
func FuzzPropertyPath(f *testing.F) {
	for _, s := range []string{"request\x00path", "request.path", "source\x00port", "", "\x00", "plugin_name", "request\x00headers\x00x"} {
		f.Add([]byte(s))
	}
	run, cleanup := withVM(f)
	defer cleanup()
	f.Fuzz(func(t *testing.T, path []byte) {
		run(func(v *vm) {
			str, b, isStr, found := v.property(path)
			if !found && (str != "" || b != nil) {
				t.Fatalf("not found but value %q %v", str, b)
			}
			_ = isStr
		})
	})
}
