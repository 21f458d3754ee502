// Package meter instruments a WebAssembly module so that its host can bound how long one call
// into it runs, cheaply.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) leaves compiled code at every
// loop header to ask Go whether the module was closed; that exit costs more than most of the
// loop bodies of a Go-compiled guest, whose every function is a loop (wazero issue #2466). This
// package rewrites the module instead. A global budget is charged one unit at every function
// entry and one unit per loop iteration; loop iterations are first counted in a local of the
// function (a register) and charged 256 at a time, so a loop header costs a few register
// instructions:
//
//	entry:        budget -= 1;  if budget <= 0 { budget = Interval; call $tick }
//	loop header:  n -= 1;  if n & 255 == 0 { budget -= 256;  if budget <= 0 { ...; call $tick } }
//
// So the guest calls the host function Module.Tick after about Interval units of work. A guest
// stuck in a loop, or in a loop-free chain of calls, reaches the host that way, where the host
// can stop it (by panicking out of the host function) and where Go can preempt the goroutine
// (the garbage collector's stop-the-world waits for that). The bound is loose in one case: a
// function invocation that runs fewer than 256 iterations of its loops is charged only for its
// entry, so at most Interval*255 such iterations pass between two ticks. Bulk memory and table
// instructions (memory.fill, memory.copy, ...) are charged 1 + length/1024 units.
//
// The rewrite refuses modules whose local, global or function indices point past what they
// declare: after the rewrite those indices would reach the meter's own counter, budget or tick
// and turn an invalid module into one that can switch its checks off.
//
// The rewrite needs to understand every instruction, because a new function import shifts the
// index of every function the module defines. Instructions of proposals it does not know (GC,
// typed function references) make Instrument return an error, and the caller falls back to
// wazero's mechanism.
package meter

import (
	"errors"
	"fmt"

	"github.com/gatewarden/gatewarden/internal/wasmbin"
)

const (
	// Module and Tick name the import Instrument adds: a host function with no parameters
	// and no results.
	Module = "gatewarden_meter"
	Tick   = "tick"
	// Interval is how many budget units (function entries and loop iterations) pass between
	// two calls of the tick function: about 0.1 ms of Go-compiled guest code.
	Interval = 4096
)

// ErrUnsupported reports a module the rewrite does not understand; run it without the
// instrumentation.
var ErrUnsupported = errors.New("meter: module not supported")

// Instrument returns a copy of the binary module wasm with the checks described in the package
// documentation. It does not validate the module: the runtime does that when it compiles the
// result.
func Instrument(wasm []byte) ([]byte, error) {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	out, err := instrument(m)
	if err != nil && !errors.Is(err, ErrUnsupported) {
		err = fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return out, err
}

// instrument writes the new module.
func instrument(m *wasmbin.Module) ([]byte, error) {
	// The tick function's type: () -> (), existing or appended.
	tickType := -1
	for i, t := range m.Types {
		if len(t.Params) == 0 && len(t.Results) == 0 {
			tickType = i
			break
		}
	}
	newType := tickType < 0
	if newType {
		tickType = len(m.Types)
	}
	first := m.FuncImports // the tick import goes after the other function imports
	rw := &rewriter{
		Renumber: wasmbin.Renumber{
			NumFuncs: m.NumFuncs(),
			Map: func(i uint32) uint32 {
				if i >= first {
					return i + 1
				}
				return i
			},
		},
		tickFunc:   first,
		budget:     m.GlobalImports + m.Globals, // appended after the other globals
		tickTypeID: uint32(tickType),
		types:      m.Types,
		funcTypes:  m.FuncTypes,
	}
	rw.CheckConst = func(in wasmbin.Instr) error {
		if in.IsGlobal() && in.Index >= rw.budget {
			return fmt.Errorf("%w: global index %d, the module has %d", ErrUnsupported, in.Index, rw.budget)
		}
		return nil
	}

	out := append([]byte(nil), "\x00asm\x01\x00\x00\x00"...)
	emit := func(id byte, body []byte) { out = wasmbin.AppendSection(out, id, body) }
	wrote := map[byte]bool{}
	// missing emits the sections this rewrite needs that the module lacks, in order, before a
	// section of rank r.
	missing := func(r int) {
		if r > wasmbin.Rank(wasmbin.SecType) && !wrote[wasmbin.SecType] && newType {
			emit(wasmbin.SecType, appendTickType(wasmbin.AppendU32(nil, 1)))
			wrote[wasmbin.SecType] = true
		}
		if r > wasmbin.Rank(wasmbin.SecImport) && !wrote[wasmbin.SecImport] {
			emit(wasmbin.SecImport, rw.appendTickImport(wasmbin.AppendU32(nil, 1)))
			wrote[wasmbin.SecImport] = true
		}
		if r > wasmbin.Rank(wasmbin.SecGlobal) && !wrote[wasmbin.SecGlobal] {
			emit(wasmbin.SecGlobal, appendBudgetGlobal(wasmbin.AppendU32(nil, 1)))
			wrote[wasmbin.SecGlobal] = true
		}
	}
	for _, s := range m.Sections {
		if s.ID == wasmbin.SecCustom {
			if s.Name == "name" {
				// Function indices moved: renumber the names (wazero shows them in stack
				// traces), or drop them if they cannot be read.
				if body, err := rw.Names(s.Body, true); err == nil {
					emit(s.ID, body)
				}
				continue
			}
			emit(s.ID, s.Body)
			continue
		}
		missing(wasmbin.Rank(s.ID))
		var body []byte
		var err error
		switch s.ID {
		case wasmbin.SecType:
			body = s.Body
			if newType {
				body = appendTickType(wasmbin.ExtendVec(s.Body, 1))
			}
		case wasmbin.SecImport:
			body = rw.appendTickImport(wasmbin.ExtendVec(s.Body, 1))
		case wasmbin.SecGlobal:
			body, err = rw.globals(s.Body)
		case wasmbin.SecExport:
			body, err = rw.Exports(s.Body, func(kind byte, idx uint32) error {
				if kind == wasmbin.KindGlobal && idx >= rw.budget {
					return fmt.Errorf("%w: export of global %d, the module has %d", ErrUnsupported, idx, rw.budget)
				}
				return nil
			})
		case wasmbin.SecStart:
			body, err = rw.Start(s.Body)
		case wasmbin.SecElement:
			body, err = rw.Elements(s.Body)
		case wasmbin.SecCode:
			body, err = rw.code(s.Body)
		default:
			body = s.Body
		}
		if err != nil {
			return nil, err
		}
		emit(s.ID, body)
		wrote[s.ID] = true
	}
	missing(wasmbin.Rank(wasmbin.SecData) + 1)
	if rw.Err != nil {
		return nil, rw.Err
	}
	return out, nil
}

func appendTickType(b []byte) []byte { return append(b, 0x60, 0x00, 0x00) }

func (rw *rewriter) appendTickImport(b []byte) []byte {
	b = wasmbin.AppendName(b, Module)
	b = wasmbin.AppendName(b, Tick)
	b = append(b, wasmbin.KindFunc)
	return wasmbin.AppendU32(b, rw.tickTypeID)
}

func appendBudgetGlobal(b []byte) []byte {
	b = append(b, 0x7F, 0x01, 0x41) // i32, mutable, i32.const
	b = wasmbin.AppendS64(b, Interval)
	return append(b, 0x0B)
}
