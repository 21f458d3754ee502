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
	m, err := parseModule(wasm)
	if err != nil {
		return nil, err
	}
	return m.instrument()
}

// section is one section of the module, as read.
type section struct {
	id   byte
	name string // custom sections
	body []byte
}

type module struct {
	sections []section

	funcImports, globalImports uint32
	definedGlobals             uint32
	types                      [][2]int // params, results per func type (only counts matter)
	typeCount                  uint32
	funcTypes                  []uint32 // type index of each defined function
}

// Section ids and their order in a module (the tag section, 13, goes between memory and global).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// rank orders known sections as the binary format requires.
func rank(id byte) int {
	switch id {
	case secType:
		return 1
	case secImport:
		return 2
	case secFunction:
		return 3
	case secTable:
		return 4
	case secMemory:
		return 5
	case secTag:
		return 6
	case secGlobal:
		return 7
	case secExport:
		return 8
	case secStart:
		return 9
	case secElement:
		return 10
	case secDataCount:
		return 11
	case secCode:
		return 12
	case secData:
		return 13
	}
	return 0
}

func parseModule(wasm []byte) (*module, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a version 1 binary module", ErrUnsupported)
	}
	m := &module{}
	r := &reader{b: wasm[8:]}
	for !r.done() {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		s := section{id: id, body: body}
		if id == secCustom {
			nr := &reader{b: body}
			s.name = nr.name()
			if nr.err != nil {
				return nil, nr.err
			}
		} else if rank(id) == 0 {
			return nil, fmt.Errorf("%w: unknown section %d", ErrUnsupported, id)
		}
		m.sections = append(m.sections, s)
	}
	for _, s := range m.sections {
		var err error
		switch s.id {
		case secType:
			err = m.readTypes(s.body)
		case secImport:
			err = m.readImports(s.body)
		case secGlobal:
			r := &reader{b: s.body}
			m.definedGlobals = r.u32()
			err = r.err
		case secFunction:
			r := &reader{b: s.body}
			n := r.u32()
			if int(n) > len(s.body) {
				return nil, fmt.Errorf("%w: function section counts %d functions in %d bytes", ErrUnsupported, n, len(s.body))
			}
			for i := uint32(0); i < n && r.err == nil; i++ {
				m.funcTypes = append(m.funcTypes, r.u32())
			}
			err = r.err
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *module) readTypes(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 {
			return fmt.Errorf("%w: type form 0x%x (GC proposal)", ErrUnsupported, form)
		}
		params := r.u32()
		for j := uint32(0); j < params && r.err == nil; j++ {
			r.valType()
		}
		results := r.u32()
		for j := uint32(0); j < results && r.err == nil; j++ {
			r.valType()
		}
		m.types = append(m.types, [2]int{int(params), int(results)})
	}
	m.typeCount = n
	if r.err == nil && !r.done() {
		return fmt.Errorf("%w: bytes after the type section's entries", ErrUnsupported)
	}
	return r.err
}

func (m *module) readImports(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
			m.funcImports++
		case 0x01: // table
			r.refType()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global
			r.valType()
			r.byte()
			m.globalImports++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			return fmt.Errorf("%w: import kind 0x%x", ErrUnsupported, kind)
		}
	}
	if r.err == nil && !r.done() {
		return fmt.Errorf("%w: bytes after the import section's entries", ErrUnsupported)
	}
	return r.err
}

// instrument writes the new module.
func (m *module) instrument() ([]byte, error) {
	// The tick function's type: () -> (), existing or appended.
	tickType := -1
	for i, t := range m.types {
		if t == [2]int{0, 0} {
			tickType = i
			break
		}
	}
	newType := tickType < 0
	if newType {
		tickType = int(m.typeCount)
	}
	rw := &rewriter{
		tickFunc:   m.funcImports, // appended after the other function imports
		firstFunc:  m.funcImports,
		budget:     m.globalImports + m.definedGlobals, // appended after the other globals
		tickTypeID: uint32(tickType),
		types:      m.types,
		funcTypes:  m.funcTypes,
		numFuncs:   m.funcImports + uint32(len(m.funcTypes)),
	}

	out := append([]byte(nil), "\x00asm\x01\x00\x00\x00"...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	wrote := map[byte]bool{}
	// missing emits the sections this rewrite needs that the module lacks, in order, before a
	// section of rank r.
	missing := func(r int) {
		if r > rank(secType) && !wrote[secType] && newType {
			emit(secType, appendTickType(appendU32(nil, 1)))
			wrote[secType] = true
		}
		if r > rank(secImport) && !wrote[secImport] {
			emit(secImport, rw.appendTickImport(appendU32(nil, 1)))
			wrote[secImport] = true
		}
		if r > rank(secGlobal) && !wrote[secGlobal] {
			emit(secGlobal, appendBudgetGlobal(appendU32(nil, 1)))
			wrote[secGlobal] = true
		}
	}
	for _, s := range m.sections {
		if s.id == secCustom {
			if s.name == "name" {
				// Function indices moved: renumber the names (wazero shows them in stack
				// traces), or drop them if they cannot be read.
				if body, err := rw.names(s.body); err == nil {
					emit(s.id, body)
				}
				continue
			}
			emit(s.id, s.body)
			continue
		}
		missing(rank(s.id))
		var body []byte
		var err error
		switch s.id {
		case secType:
			body = s.body
			if newType {
				body = appendTickType(extendVec(s.body, 1))
			}
		case secImport:
			body = rw.appendTickImport(extendVec(s.body, 1))
		case secGlobal:
			body, err = rw.globals(s.body)
		case secExport:
			body, err = rw.exports(s.body)
		case secStart:
			r := &reader{b: s.body}
			f := r.u32()
			body, err = appendU32(nil, rw.fn(f)), r.err
		case secElement:
			body, err = rw.elements(s.body)
		case secCode:
			body, err = rw.code(s.body)
		default:
			body = s.body
		}
		if err != nil {
			return nil, err
		}
		emit(s.id, body)
		wrote[s.id] = true
	}
	missing(rank(secData) + 1)
	if rw.badIndex != nil {
		return nil, rw.badIndex
	}
	return out, nil
}

// extendVec returns a vector's bytes with its count raised by n (the entries follow unchanged).
func extendVec(b []byte, n uint32) []byte {
	r := &reader{b: b}
	count := r.u32()
	return append(appendU32(nil, count+n), r.b[r.off:]...)
}

func appendTickType(b []byte) []byte { return append(b, 0x60, 0x00, 0x00) }

func (rw *rewriter) appendTickImport(b []byte) []byte {
	b = appendName(b, Module)
	b = appendName(b, Tick)
	b = append(b, 0x00)
	return appendU32(b, rw.tickTypeID)
}

func appendBudgetGlobal(b []byte) []byte {
	b = append(b, 0x7F, 0x01, 0x41) // i32, mutable, i32.const
	b = appendS64(b, Interval)
	return append(b, 0x0B)
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
