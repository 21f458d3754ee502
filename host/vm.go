package host

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// vm is one wasm instance and the worker goroutine that serves it. Every call
// into the instance, and every field below the "worker-owned" line, is used
// only with vm.mu held: by the worker for queued tasks (ticks, callout
// responses, queued stream work), or by a request goroutine that finds the VM
// idle and runs its stream's callback itself, as an Envoy worker thread runs
// the filters of its own connections (see post). Either way one goroutine at
// a time runs guest code, in order per stream.
type vm struct {
	p    *Plugin
	slot int
	id   uint64 // generation, for logs
	log  *slog.Logger

	mod    api.Module
	mem    api.Memory
	ctx    context.Context // passed to every guest call; carries the *vm
	cancel context.CancelFunc
	watch  *time.Timer // fires cancel when a callback overruns
	fn     guestFuncs

	tasks  chan task
	deadCh chan struct{} // closed when the worker stops
	quit   chan struct{} // closed by stop
	exited chan struct{} // closed when the worker returned

	inflight   atomic.Int32 // requests pinned here
	dead       atomic.Bool
	tickQueued atomic.Bool

	// mu is held by whichever goroutine runs guest code: the worker for
	// queued tasks, or a request goroutine that found the VM idle (post's
	// fast path). The fields below are only used with mu held.
	mu       sync.Mutex
	torn     bool // teardown ran
	quitOnce sync.Once

	// worker-owned
	stack      [8]uint64
	allocStack [1]uint64
	depth      int
	broken     error // set when a guest call failed; the VM is then torn down
	deadline   int64 // metered module: wall-clock ns the running callback must end by (0: none)
	overran    bool  // metered module: the meter stopped a callback at its deadline
	root       uint32
	nextID     uint32
	streams    map[uint32]*stream
	cur        *stream // effective stream context, nil for the root context
	pending    []*stream
	spare      []*stream
	callResp   *callResult
	nextCall   uint32
	calls      int // http calls in flight
	callBytes  int // request bytes of those calls
	rootProps  map[string][]byte
	tickStop   chan struct{}
	inStart    bool
	startLimit time.Duration
}

type guestFuncs struct {
	alloc, contextCreate, done, log, delete, vmStart, configure, tick api.Function
	reqHeaders, reqBody, reqTrailers, respHeaders, respBody, respTrls api.Function
	httpCallResponse, queueReady                                      api.Function
}

type vmKey struct{}

// vmContext carries the *vm to host functions with a one-step Value lookup.
type vmContext struct {
	context.Context
	v *vm
}

func (c *vmContext) Value(k any) any {
	if _, ok := k.(vmKey); ok {
		return c.v
	}
	return c.Context.Value(k)
}

func vmFrom(ctx context.Context) *vm {
	v, _ := ctx.Value(vmKey{}).(*vm)
	return v
}

const taskQueueLen = 1024

// newVM instantiates the module, runs the root context start-up callbacks and
// starts the worker.
func (p *Plugin) newVM(ctx context.Context, slot int) (*vm, error) {
	v := &vm{
		p:       p,
		slot:    slot,
		id:      p.gen.Add(1),
		tasks:   make(chan task, taskQueueLen),
		deadCh:  make(chan struct{}),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
		root:    1,
		nextID:  1,
		streams: make(map[uint32]*stream),
	}
	v.log = p.logger.With(slog.Int("vm", slot))
	base, cancel := context.WithCancel(context.Background())
	v.ctx, v.cancel = &vmContext{Context: base, v: v}, cancel
	if p.limits.MaxCallbackTime > 0 && !p.metered {
		v.watch = time.AfterFunc(math.MaxInt64, v.overrun)
		v.watch.Stop()
	}
	// Start-up gets its own, longer budget.
	v.inStart, v.startLimit = true, p.limits.StartTimeout
	startTimer := time.AfterFunc(p.limits.StartTimeout, cancel)
	defer startTimer.Stop()
	if p.metered {
		v.deadline = time.Now().Add(p.limits.StartTimeout).UnixNano()
	}

	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(p.starts...).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(&lineLogger{log: v.log, level: slog.LevelInfo}).
		WithStderr(&lineLogger{log: v.log, level: slog.LevelError})
	mod, err := p.wr.InstantiateModule(v.ctx, p.compiled, mc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%w: instantiate VM %d: %v", ErrModule, slot, err)
	}
	v.mod, v.mem = mod, mod.Memory()
	if v.mem == nil {
		return nil, v.abortStart(fmt.Errorf("%w: the module exports no memory", ErrModule))
	}
	f := func(name string) api.Function { return mod.ExportedFunction(name) }
	v.fn = guestFuncs{
		alloc: f("proxy_on_memory_allocate"), contextCreate: f("proxy_on_context_create"),
		done: f("proxy_on_done"), log: f("proxy_on_log"), delete: f("proxy_on_delete"),
		vmStart: f("proxy_on_vm_start"), configure: f("proxy_on_configure"), tick: f("proxy_on_tick"),
		reqHeaders: f("proxy_on_request_headers"), reqBody: f("proxy_on_request_body"),
		reqTrailers: f("proxy_on_request_trailers"), respHeaders: f("proxy_on_response_headers"),
		respBody: f("proxy_on_response_body"), respTrls: f("proxy_on_response_trailers"),
		httpCallResponse: f("proxy_on_http_call_response"), queueReady: f("proxy_on_queue_ready"),
	}
	if v.fn.alloc == nil {
		v.fn.alloc = f("malloc")
	}
	if p.hasMain {
		if _, ok := v.call(f("main"), 0, 0); !ok {
			return nil, v.abortStart(fmt.Errorf("%w: VM %d: main: %v", ErrStartFailed, slot, v.broken))
		}
	}
	if _, ok := v.call(v.fn.contextCreate, uint64(v.root), 0); !ok {
		return nil, v.abortStart(fmt.Errorf("%w: VM %d: proxy_on_context_create(root): %v", ErrStartFailed, slot, v.broken))
	}
	if v.fn.vmStart != nil {
		r, ok := v.call(v.fn.vmStart, uint64(v.root), uint64(len(p.cfg.VMConfiguration)))
		if !ok {
			return nil, v.abortStart(fmt.Errorf("%w: VM %d: proxy_on_vm_start: %v", ErrStartFailed, slot, v.broken))
		}
		if uint32(r) == 0 {
			return nil, v.abortStart(fmt.Errorf("%w: VM %d: proxy_on_vm_start returned false (the filter rejected its VM configuration; see its log)", ErrStartFailed, slot))
		}
	}
	if v.fn.configure != nil {
		r, ok := v.call(v.fn.configure, uint64(v.root), uint64(len(p.cfg.Configuration)))
		if !ok {
			return nil, v.abortStart(fmt.Errorf("%w: VM %d: proxy_on_configure: %v", ErrStartFailed, slot, v.broken))
		}
		if uint32(r) == 0 {
			return nil, v.abortStart(fmt.Errorf("%w: VM %d: proxy_on_configure returned false (the filter rejected its plugin configuration; see its log)", ErrStartFailed, slot))
		}
	}
	if !startTimer.Stop() {
		return nil, v.abortStart(fmt.Errorf("%w: VM %d: start-up took longer than %v", ErrStartFailed, slot, p.limits.StartTimeout))
	}
	v.pending = v.pending[:0]
	v.inStart = false
	v.deadline = 0
	go v.run()
	return v, nil
}

func (v *vm) abortStart(err error) error {
	if v.tickStop != nil {
		close(v.tickStop)
	}
	close(v.deadCh)
	close(v.exited)
	v.dead.Store(true)
	_ = v.mod.Close(context.Background())
	v.cancel()
	v.p.rt.queues.dropOwner(v)
	return err
}

// overrun runs on the timer goroutine when a callback exceeds
// MaxCallbackTime: cancelling the context makes wazero close the module,
// which stops the guest at its next function entry or loop back-edge.
func (v *vm) overrun() { v.cancel() }

// call invokes a guest callback with params; ok is false if the function is
// missing or the guest trapped (then v.broken is set). Only the outermost
// call arms the MaxCallbackTime watchdog.
func (v *vm) call(f api.Function, params ...uint64) (uint64, bool) {
	if f == nil || v.broken != nil {
		return 0, false
	}
	copy(v.stack[:], params)
	outer := v.depth == 0
	limited := outer && !v.inStart && v.p.limits.MaxCallbackTime > 0
	if limited {
		if v.p.metered {
			v.deadline = time.Now().Add(v.p.limits.MaxCallbackTime).UnixNano()
		} else {
			v.watch.Reset(v.p.limits.MaxCallbackTime)
		}
	}
	v.depth++
	err := f.CallWithStack(v.ctx, v.stack[:])
	v.depth--
	if limited {
		if v.p.metered {
			v.deadline = 0
		} else {
			v.watch.Stop()
		}
	}
	if err != nil {
		if v.ctx.Err() != nil || v.overran {
			err = fmt.Errorf("callback exceeded its time limit: %w", err)
		}
		v.broken = err
		return 0, false
	}
	return v.stack[0], true
}

// alloc asks the guest for size bytes (proxy_on_memory_allocate). A trap in
// the allocator unwinds the calling guest code by panicking out of the host
// function, so the whole callback fails and the VM is replaced.
func (v *vm) alloc(mem api.Memory, size uint32) (uint32, status) {
	if v.fn.alloc == nil {
		return 0, statusInternalFailure
	}
	v.allocStack[0] = uint64(size)
	v.depth++
	err := v.fn.alloc.CallWithStack(v.ctx, v.allocStack[:])
	v.depth--
	if err != nil {
		panic(err)
	}
	ptr := uint32(v.allocStack[0])
	if ptr == 0 {
		return 0, statusInternalFailure
	}
	if !inBounds(mem, ptr, size) {
		return 0, statusInvalidMemoryAccess
	}
	return ptr, statusOK
}

func inBounds(mem api.Memory, ptr, n uint32) bool {
	return uint64(ptr)+uint64(n) <= uint64(mem.Size())
}

// writeOut copies data into fresh guest memory and stores its address and
// length at the out-pointers pp and lp. Empty data is returned as (0, 0)
// without allocating.
func writeOut[T string | []byte](v *vm, mem api.Memory, data T, pp, lp uint32) status {
	if !inBounds(mem, pp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	if len(data) == 0 {
		mem.WriteUint32Le(pp, 0)
		mem.WriteUint32Le(lp, 0)
		return statusOK
	}
	if uint64(len(data)) > math.MaxUint32 {
		return statusInternalFailure
	}
	n := uint32(len(data))
	ptr, st := v.alloc(mem, n)
	if st != statusOK {
		return st
	}
	buf, _ := mem.Read(ptr, n)
	copy(buf, data)
	mem.WriteUint32Le(pp, ptr)
	mem.WriteUint32Le(lp, n)
	return statusOK
}

// writeMapOut serializes pairs into fresh guest memory.
func (v *vm) writeMapOut(mem api.Memory, pairs []kv, pp, lp uint32) status {
	if !inBounds(mem, pp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	n := mapSize(pairs)
	if n == 0 {
		mem.WriteUint32Le(pp, 0)
		mem.WriteUint32Le(lp, 0)
		return statusOK
	}
	if uint64(n) > math.MaxUint32 {
		return statusInternalFailure
	}
	ptr, st := v.alloc(mem, uint32(n))
	if st != statusOK {
		return st
	}
	buf, _ := mem.Read(ptr, uint32(n))
	encodeMap(buf, pairs)
	mem.WriteUint32Le(pp, ptr)
	mem.WriteUint32Le(lp, uint32(n))
	return statusOK
}

// task is a unit of work for a VM's worker. A struct, not a closure, so
// posting one does not allocate.
type task struct {
	kind uint8
	eos  bool
	s    *stream
	hdrs []kv
	body []byte
	hold bool // body chunk while the headers are paused
	id   uint32
	root uint32
	call *callResult
	fn   func(*vm) // taskFunc (tests, rare paths)
}

const (
	taskRequest = iota + 1
	taskRequestBody
	taskRequestTrailers
	taskResponse
	taskResponseBody
	taskResponseTrailers
	taskFinish
	taskCallResponse
	taskTick
	taskQueueReady
	taskFunc
)

// post hands t to the VM, waiting while the queue is full. It returns
// false if the VM is gone or ctx ends first.
//
// Fast path: when the VM is idle (its lock is free, nothing is queued and
// the stream has no queued task), the calling goroutine runs the task
// itself. This saves two goroutine hand-offs per callback, which on a
// lightly loaded machine cost more than the filter's own work (futex
// wake-ups). Otherwise the task is queued for the worker, which keeps the
// order of a stream's tasks.
func (v *vm) post(ctx context.Context, t task) bool {
	if t.s != nil && v.mu.TryLock() {
		if v.torn {
			v.mu.Unlock()
			return false
		}
		if len(v.tasks) == 0 && t.s.queued.Load() == 0 {
			v.handleDirect(t)
			return true
		}
		v.mu.Unlock()
	}
	if t.s != nil {
		t.s.queued.Add(1)
	}
	select {
	case v.tasks <- t:
		return true
	default:
	}
	select {
	case v.tasks <- t:
		return true
	case <-v.deadCh:
	case <-ctx.Done():
	}
	if t.s != nil {
		t.s.queued.Add(-1)
	}
	return false
}

// handleLocked runs t with v.mu held and, if the guest failed, tears the VM
// down and starts its replacement (the worker then exits). queued says t came
// through the task queue.
func (v *vm) handleLocked(t task, queued bool) {
	if t.s != nil {
		if t.kind == taskFinish {
			if t.s.filterTime > 0 {
				v.p.filterTime.Observe(t.s.filterTime.Seconds())
				t.s.filterTime = 0
			}
		} else {
			start := time.Now()
			defer func() { t.s.filterTime += time.Since(start) }()
		}
	}
	v.handle(t)
	if queued && t.s != nil {
		t.s.queued.Add(-1)
	}
	if v.broken != nil && !v.torn {
		v.log.Error("proxy-wasm VM failed; replacing it", slog.Any("error", v.broken))
		v.teardown()
		v.closeQuit()
		v.p.replace(v.slot)
	}
}

// handleDirect runs t on the calling goroutine with v.mu held (post's fast path) and releases
// the lock however handle ends. A panic there is a host bug (guest traps come back as errors):
// the VM is torn down and replaced before the panic goes on to net/http, so no request ever
// waits on a lock nobody will release.
func (v *vm) handleDirect(t task) {
	defer v.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			if !v.torn {
				v.log.Error("host panic in a VM callback; replacing the VM", slog.Any("panic", r))
				v.teardown()
				v.closeQuit()
				v.p.replace(v.slot)
			}
			panic(r)
		}
	}()
	v.handleLocked(t, false)
}

func (v *vm) closeQuit() { v.quitOnce.Do(func() { close(v.quit) }) }

// postAsync sends t without blocking the caller (which may be another VM's
// worker); if the queue is full a goroutine waits for room.
func (v *vm) postAsync(t task) {
	select {
	case v.tasks <- t:
		return
	case <-v.deadCh:
		return
	default:
	}
	go func() {
		select {
		case v.tasks <- t:
		case <-v.deadCh:
		}
	}()
}

// run is the worker loop.
func (v *vm) run() {
	defer close(v.exited)
	for {
		select {
		case t := <-v.tasks:
			v.mu.Lock()
			if v.torn {
				v.mu.Unlock()
				return
			}
			v.handleLocked(t, true)
			torn := v.torn
			v.mu.Unlock()
			if torn {
				return
			}
		case <-v.quit:
			v.mu.Lock()
			if !v.torn {
				v.teardown()
			}
			v.mu.Unlock()
			return
		}
	}
}

// stop ends the worker (from outside it) and waits for it.
func (v *vm) stop() {
	v.closeQuit()
	<-v.exited
}

// teardown fails every stream still waiting for a decision, stops timers and
// closes the instance.
func (v *vm) teardown() {
	v.torn = true
	v.dead.Store(true)
	for _, s := range v.streams {
		if s.waiting {
			v.decide(s, decFail)
		}
	}
	v.streams = nil
	close(v.deadCh)
	if v.tickStop != nil {
		close(v.tickStop)
		v.tickStop = nil
	}
	if v.watch != nil {
		v.watch.Stop()
	}
	v.p.rt.queues.dropOwner(v)
	_ = v.mod.Close(context.Background())
	v.cancel()
}

func (v *vm) handle(t task) {
	switch t.kind {
	case taskRequest:
		v.onRequestHeaders(t.s, t.hdrs, t.eos)
	case taskResponse:
		v.onResponseHeaders(t.s, t.hdrs, t.eos)
	case taskRequestBody:
		v.onBody(t.s, t.body, t.eos, false, t.hold)
	case taskResponseBody:
		v.onBody(t.s, t.body, t.eos, true, t.hold)
	case taskRequestTrailers:
		v.onTrailers(t.s, t.hdrs, false)
	case taskResponseTrailers:
		v.onTrailers(t.s, t.hdrs, true)
	case taskFinish:
		v.finishStream(t.s)
	case taskCallResponse:
		v.onHTTPCallResponse(t.call)
	case taskTick:
		v.tickQueued.Store(false)
		v.setEffective(nil)
		v.call(v.fn.tick, uint64(v.root))
		v.afterCallback()
	case taskQueueReady:
		v.setEffective(nil)
		v.call(v.fn.queueReady, uint64(v.root), uint64(t.id))
		v.afterCallback()
	case taskFunc:
		t.fn(v)
	}
}

// setEffective makes s (nil: the root context) the context host calls act on.
func (v *vm) setEffective(s *stream) { v.cur = s }

// markPending records that s got a continue, local response or close during
// the current callback; afterCallback acts on it once the guest returned.
func (v *vm) markPending(s *stream) {
	if !s.inPending {
		s.inPending = true
		v.pending = append(v.pending, s)
	}
}

// afterCallback applies what the guest asked for during the callback that
// just returned: local responses win over close, close over continue
// (Envoy defers all three until the callback returns).
func (v *vm) afterCallback() {
	for len(v.pending) > 0 {
		list := v.pending
		v.pending = v.spare[:0]
		for _, s := range list {
			s.inPending = false
			if s.wantDelete {
				s.wantDelete = false
				v.deleteStream(s) // may queue more; the loop picks them up
				continue
			}
			if s.reqBodyWait || s.respBodyWait {
				v.afterBody(s)
			}
			if !s.waiting {
				continue
			}
			switch {
			case s.local != nil:
				v.decide(s, decLocal)
			case s.wantClose:
				v.decide(s, decReset)
			case s.wantContinue:
				v.decide(s, decContinue)
			}
		}
		clear(list)
		v.spare = list[:0]
	}
}

// setTick (re)starts the root context's timer; 0 stops it. A tick is not
// queued while the previous one is still waiting, so a slow VM is not flooded.
func (v *vm) setTick(ms uint32) {
	if v.tickStop != nil {
		close(v.tickStop)
		v.tickStop = nil
	}
	if ms == 0 || v.fn.tick == nil {
		return
	}
	stop := make(chan struct{})
	v.tickStop = stop
	d := time.Duration(ms) * time.Millisecond
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if v.tickQueued.CompareAndSwap(false, true) {
					select {
					case v.tasks <- task{kind: taskTick}:
					default:
						v.tickQueued.Store(false)
					}
				}
			case <-stop:
				return
			case <-v.deadCh:
				return
			}
		}
	}()
}
