package wasmkern

import (
	"fmt"

	"github.com/gatewarden/gatewarden/internal/wasmbin"
)

// Value types and opcodes of the WebAssembly core binary format (spec section 5.3 and 5.4)
// that the kernels use. The kernels are plain scalar code: locals, i32/i64 arithmetic,
// loads and stores on memory 0, and blocks without results; the splicer
// (internal/wasmbin.Splice) accepts nothing else in a kernel body.
const (
	typeI32 = 0x7F
	typeI64 = 0x7E

	opBlock    = 0x02
	opLoop     = 0x03
	opIf       = 0x04
	opElse     = 0x05
	opEnd      = 0x0B
	opBr       = 0x0C
	opBrIf     = 0x0D
	opDrop     = 0x1A
	opSelect   = 0x1B
	opLocalGet = 0x20
	opLocalSet = 0x21
	opLocalTee = 0x22
	opI64Load  = 0x29
	opI64Store = 0x37
	opI32Const = 0x41
	opI64Const = 0x42
	opI32LtS   = 0x48
	opI32GtS   = 0x4A
	opI32LeS   = 0x4C
	opI32GeS   = 0x4E
	opI32Add   = 0x6A
	opI32Sub   = 0x6B
	opI32Shl   = 0x74
	opI32ShrU  = 0x76
	opI64Add   = 0x7C
	opI64Mul   = 0x7E
	opI64And   = 0x83
	opI64Shl   = 0x86
	opI64ShrU  = 0x88

	blockEmpty = 0x40 // block type of a block without parameters or results
)

// fn assembles one function body. Locals are numbered after the parameters, in the order
// local returns them.
type fn struct {
	params, results []byte
	locals          []byte
	code            []byte
}

func newFn(params, results []byte) *fn {
	return &fn{params: params, results: results}
}

// local declares a new local of type t and returns its index.
func (f *fn) local(t byte) uint32 {
	f.locals = append(f.locals, t)
	return uint32(len(f.params) + len(f.locals) - 1)
}

func (f *fn) op(ops ...byte) { f.code = append(f.code, ops...) }

func (f *fn) get(l uint32) { f.code = wasmbin.AppendU32(append(f.code, opLocalGet), l) }
func (f *fn) set(l uint32) { f.code = wasmbin.AppendU32(append(f.code, opLocalSet), l) }
func (f *fn) tee(l uint32) { f.code = wasmbin.AppendU32(append(f.code, opLocalTee), l) }

func (f *fn) i32(v int32) { f.code = wasmbin.AppendS64(append(f.code, opI32Const), int64(v)) }
func (f *fn) i64(v int64) { f.code = wasmbin.AppendS64(append(f.code, opI64Const), v) }

// load64 and store64 access memory 0 at the address on the stack plus off (8-byte aligned).
func (f *fn) load64(off int)  { f.memOp(opI64Load, off) }
func (f *fn) store64(off int) { f.memOp(opI64Store, off) }

func (f *fn) memOp(op byte, off int) {
	if off < 0 {
		panic(fmt.Sprintf("wasmkern: negative memory offset %d", off))
	}
	f.code = appendMemArg(append(f.code, op), 3, off)
}

// appendMemArg appends a memarg: log2 of the alignment, then the offset.
func appendMemArg(b []byte, alignLog2 uint32, off int) []byte {
	return wasmbin.AppendU32(wasmbin.AppendU32(b, alignLog2), uint32(off))
}

func (f *fn) br(depth uint32)   { f.code = wasmbin.AppendU32(append(f.code, opBr), depth) }
func (f *fn) brIf(depth uint32) { f.code = wasmbin.AppendU32(append(f.code, opBrIf), depth) }

// body encodes the function's code section entry: size, local declarations, code, end.
func (f *fn) body() []byte {
	var b []byte
	var groups [][2]int // count, type
	for _, t := range f.locals {
		if n := len(groups); n > 0 && groups[n-1][1] == int(t) {
			groups[n-1][0]++
		} else {
			groups = append(groups, [2]int{1, int(t)})
		}
	}
	b = wasmbin.AppendU32(b, uint32(len(groups)))
	for _, g := range groups {
		b = append(wasmbin.AppendU32(b, uint32(g[0])), byte(g[1]))
	}
	b = append(append(b, f.code...), opEnd)
	return append(wasmbin.AppendU32(nil, uint32(len(b))), b...)
}

// encodeModule writes a module that defines fns, exports each under its name and exports a
// memory "memory" of minPages pages (tests run the kernels in it).
func encodeModule(names []string, fns []*fn, minPages uint32) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, body []byte) { out = wasmbin.AppendSection(out, id, body) }
	types := wasmbin.AppendU32(nil, uint32(len(fns)))
	funcs := wasmbin.AppendU32(nil, uint32(len(fns)))
	exports := wasmbin.AppendU32(nil, uint32(len(fns)+1))
	code := wasmbin.AppendU32(nil, uint32(len(fns)))
	for i, f := range fns {
		types = append(types, 0x60)
		types = append(wasmbin.AppendU32(types, uint32(len(f.params))), f.params...)
		types = append(wasmbin.AppendU32(types, uint32(len(f.results))), f.results...)
		funcs = wasmbin.AppendU32(funcs, uint32(i))
		exports = wasmbin.AppendU32(append(wasmbin.AppendName(exports, names[i]), 0x00), uint32(i))
		code = append(code, f.body()...)
	}
	exports = append(wasmbin.AppendName(exports, "memory"), 0x02, 0x00)
	section(wasmbin.SecType, types)
	section(wasmbin.SecFunction, funcs)
	section(wasmbin.SecMemory, wasmbin.AppendU32([]byte{1, 0x00}, minPages))
	section(wasmbin.SecExport, exports)
	section(wasmbin.SecCode, code)
	return out
}
