package abi

// VM routes the host's callbacks to the plugin's contexts. The wasm exports drive the VM that
// [SetNewRootContext] installs; tests drive their own VM through abitest.
//
// Unknown context ids are ignored rather than trusted (a host bug must not crash the guest), and
// a panic in a stream callback fails that stream closed with a 500 instead of killing the VM.
type VM struct {
	host    Host
	newRoot func(contextID uint32, host Host) RootContext
	roots   map[uint32]RootContext
	streams streamTable
}

// stream is a live HTTP context and the root context it belongs to.
type stream struct {
	id   uint32
	ctx  HTTPContext
	root uint32
	used bool // the slot holds a stream
	done bool // OnDone was delivered
}

// streamSlots is the size of streamTable's direct-mapped part.
const streamSlots = 256

// streamTable finds live streams by context id. Hosts number contexts sequentially, so slot
// id%streamSlots is almost always free for a new stream and lookups are one compare; the rare
// collisions (more than streamSlots live streams, or a host with other ids) go to a map. A Go
// map insert and delete per request were a visible share of a cache-hit request in wasm.
type streamTable struct {
	slots    [streamSlots]stream
	overflow map[uint32]stream
	n        int
}

func (t *streamTable) get(id uint32) (stream, bool) {
	if s := &t.slots[id%streamSlots]; s.id == id && s.used {
		return *s, true
	}
	if len(t.overflow) == 0 {
		return stream{}, false
	}
	s, ok := t.overflow[id]
	return s, ok
}

// put adds or replaces the stream with s.id.
func (t *streamTable) put(s stream) {
	t.remove(s.id)
	t.n++
	if slot := &t.slots[s.id%streamSlots]; !slot.used {
		*slot = s
		return
	}
	if t.overflow == nil {
		t.overflow = map[uint32]stream{}
	}
	t.overflow[s.id] = s
}

func (t *streamTable) remove(id uint32) bool {
	if s := &t.slots[id%streamSlots]; s.id == id && s.used {
		*s = stream{}
		t.n--
		return true
	}
	if _, ok := t.overflow[id]; ok {
		delete(t.overflow, id)
		t.n--
		return true
	}
	return false
}

// NewVM returns a VM that creates root contexts with newRoot and gives them host.
func NewVM(host Host, newRoot func(contextID uint32, host Host) RootContext) *VM {
	return &VM{
		host:    host,
		newRoot: newRoot,
		roots:   map[uint32]RootContext{},
	}
}

// Root returns the root context with id, or nil.
func (vm *VM) Root(id uint32) RootContext { return vm.roots[id] }

// OnContextCreate implements proxy_on_context_create: parent 0 creates a root context, any
// other parent an HTTP stream context of that root.
func (vm *VM) OnContextCreate(id, parent uint32) {
	if parent == 0 {
		vm.roots[id] = vm.newRoot(id, vm.host)
		return
	}
	root, ok := vm.roots[parent]
	if !ok {
		vm.host.Log(LogError, "proxy_on_context_create: unknown root context")
		return
	}
	vm.streams.put(stream{id: id, ctx: root.NewHTTPContext(id), root: parent, used: true})
}

// OnVMStart implements proxy_on_vm_start.
func (vm *VM) OnVMStart(root uint32, size int) bool {
	r, ok := vm.roots[root]
	return ok && r.OnVMStart(size)
}

// OnConfigure implements proxy_on_configure.
func (vm *VM) OnConfigure(root uint32, size int) (ok bool) {
	r, found := vm.roots[root]
	if !found {
		return false
	}
	defer func() {
		if p := recover(); p != nil {
			vm.host.Log(LogCritical, "plugin configuration panicked; refusing to start")
			ok = false
		}
	}()
	return r.OnConfigure(size)
}

// OnTick implements proxy_on_tick.
func (vm *VM) OnTick(root uint32) {
	if r, ok := vm.roots[root]; ok {
		r.OnTick()
	}
}

// OnHTTPCallResponse implements proxy_on_http_call_response. Hosts name the context that made
// the call; a call made from a stream context is answered to that stream's root context.
func (vm *VM) OnHTTPCallResponse(root, callID uint32, headers, body, trailers int) {
	if s, ok := vm.streams.get(root); ok {
		root = s.root
	}
	if r, ok := vm.roots[root]; ok {
		r.OnHTTPCallResponse(callID, headers, body, trailers)
	}
}

// failStream answers a stream whose callback panicked, so the request fails closed.
func (vm *VM) failStream(action *Action) {
	if p := recover(); p != nil {
		vm.host.Log(LogCritical, "filter callback panicked; failing the request closed")
		_ = vm.host.SendLocalResponse(500, "gatewarden_internal_error",
			[]byte(`{"error":"internal_error"}`), []Header{{Key: "content-type", Value: "application/json"}})
		*action = ActionPause
	}
}

// onStream runs a stream callback; unknown streams continue, and a panic fails the stream.
func (vm *VM) onStream(id uint32, call func(HTTPContext) Action) (a Action) {
	s, ok := vm.streams.get(id)
	if !ok {
		return ActionContinue
	}
	defer vm.failStream(&a)
	return call(s.ctx)
}

// OnRequestHeaders implements proxy_on_request_headers.
func (vm *VM) OnRequestHeaders(id uint32, n int, eos bool) Action {
	return vm.onStream(id, func(s HTTPContext) Action { return s.OnRequestHeaders(n, eos) })
}

// OnRequestBody implements proxy_on_request_body.
func (vm *VM) OnRequestBody(id uint32, n int, eos bool) Action {
	return vm.onStream(id, func(s HTTPContext) Action { return s.OnRequestBody(n, eos) })
}

// OnRequestTrailers implements proxy_on_request_trailers.
func (vm *VM) OnRequestTrailers(id uint32, n int) Action {
	return vm.onStream(id, func(s HTTPContext) Action { return s.OnRequestTrailers(n) })
}

// OnResponseHeaders implements proxy_on_response_headers.
func (vm *VM) OnResponseHeaders(id uint32, n int, eos bool) Action {
	return vm.onStream(id, func(s HTTPContext) Action { return s.OnResponseHeaders(n, eos) })
}

// OnResponseBody implements proxy_on_response_body.
func (vm *VM) OnResponseBody(id uint32, n int, eos bool) Action {
	return vm.onStream(id, func(s HTTPContext) Action { return s.OnResponseBody(n, eos) })
}

// OnResponseTrailers implements proxy_on_response_trailers.
func (vm *VM) OnResponseTrailers(id uint32, n int) Action {
	return vm.onStream(id, func(s HTTPContext) Action { return s.OnResponseTrailers(n) })
}

// OnLog implements proxy_on_log.
func (vm *VM) OnLog(id uint32) {
	if s, ok := vm.streams.get(id); ok {
		s.ctx.OnLog()
	}
}

// OnDone implements proxy_on_done. Streams are done at once; root contexts too (no pending
// work is kept past the VM's end).
func (vm *VM) OnDone(id uint32) bool {
	if s, ok := vm.streams.get(id); ok && !s.done {
		s.done = true
		vm.streams.put(s)
		if s.ctx != nil {
			s.ctx.OnDone()
		}
	}
	return true
}

// OnDelete implements proxy_on_delete: the context's state is dropped. A stream that got no
// proxy_on_done (the filter does not export it; see exports_full_wasip1.go) gets OnDone first,
// and a context that implements Releaser is handed back to its plugin.
func (vm *VM) OnDelete(id uint32) {
	if s, ok := vm.streams.get(id); ok {
		if !s.done && s.ctx != nil {
			s.ctx.OnDone()
		}
		vm.streams.remove(id)
		if r, ok := s.ctx.(Releaser); ok {
			r.Release()
		}
		return
	}
	delete(vm.roots, id)
}

// Streams reports how many stream contexts are alive, for leak checks in tests.
func (vm *VM) Streams() int { return vm.streams.n }
