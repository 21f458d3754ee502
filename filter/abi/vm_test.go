package abi_test

import (
	"testing"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/filter/abi/abitest"
)

type panicky struct{ configured bool }

func (p *panicky) OnVMStart(int) bool                        { return true }
func (p *panicky) OnConfigure(int) bool                      { panic("bad config") }
func (p *panicky) OnTick()                                   {}
func (p *panicky) OnHTTPCallResponse(uint32, int, int, int)  {}
func (p *panicky) NewHTTPContext(uint32) abi.HTTPContext     { return panickyStream{} }
func (panickyStream) OnRequestHeaders(int, bool) abi.Action  { panic("boom") }
func (panickyStream) OnRequestBody(int, bool) abi.Action     { return abi.ActionContinue }
func (panickyStream) OnRequestTrailers(int) abi.Action       { return abi.ActionContinue }
func (panickyStream) OnResponseHeaders(int, bool) abi.Action { return abi.ActionContinue }
func (panickyStream) OnResponseBody(int, bool) abi.Action    { return abi.ActionContinue }
func (panickyStream) OnResponseTrailers(int) abi.Action      { return abi.ActionContinue }
func (panickyStream) OnLog()                                 {}
func (panickyStream) OnDone()                                {}

type panickyStream struct{}

func TestPanicsFailClosed(t *testing.T) {
	h := abitest.New(func(uint32, abi.Host) abi.RootContext { return &panicky{} })
	if h.Start() {
		t.Fatal("a configure that panicked was reported as success")
	}
	s := h.Request("GET", "/")
	if s.Local == nil || s.Local.Status != 500 || s.Forwarded {
		t.Fatalf("a panicking request callback did not fail closed: %+v", s.Local)
	}
}

func TestUnknownContextsAreIgnored(t *testing.T) {
	vm := abi.NewVM(abitest.New(nil), func(uint32, abi.Host) abi.RootContext { return &panicky{} })
	if a := vm.OnRequestHeaders(42, 1, true); a != abi.ActionContinue {
		t.Fatalf("unknown stream: action %d", a)
	}
	if vm.OnVMStart(7, 0) || vm.OnConfigure(7, 0) {
		t.Fatal("unknown root context reported success")
	}
	vm.OnContextCreate(5, 99) // unknown parent: logged, not created
	if vm.Streams() != 0 {
		t.Fatal("a stream was created under an unknown root")
	}
	vm.OnTick(7)
	vm.OnHTTPCallResponse(7, 1, 0, 0, 0)
	vm.OnLog(5)
	vm.OnDone(5)
	vm.OnDelete(5)
}
