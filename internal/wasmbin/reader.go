// Package wasmbin reads and re-encodes WebAssembly binary modules (core specification 2.0,
// chapter 5, "Binary Format"), for the two places that rewrite a compiled module: host/meter
// (adds an import and budget checks) and cmd/wasmsplice (replaces imports with function
// bodies). Both change the function index space, so both need every instruction decoded and
// every function index renumbered; this package does that once.
//
// It is not a validator: it reads what it needs and copies the rest, and it fails with
// ErrUnsupported on anything it does not know (an unknown section, opcode or import kind)
// rather than guessing. Callers compile the result with a runtime, which validates it.
package wasmbin

import (
	"errors"
	"fmt"
)

// ErrUnsupported reports a module this package does not understand or refuses to rewrite.
var ErrUnsupported = errors.New("wasm module not supported")

// Reader decodes the binary format; the first error sticks in Err and later reads return zero
// values, so a caller checks Err once after a sequence of reads.
type Reader struct {
	B   []byte
	Off int
	Err error
}

// Done reports whether every byte has been read.
func (r *Reader) Done() bool { return r.Off >= len(r.B) }

// Fail records an error at the current offset, unless one is recorded already.
func (r *Reader) Fail(what string) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%w: %s at byte %d", ErrUnsupported, what, r.Off)
	}
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.Err != nil {
		return 0
	}
	if r.Off >= len(r.B) {
		r.Fail("unexpected end")
		return 0
	}
	c := r.B[r.Off]
	r.Off++
	return c
}

// Bytes reads n bytes (a sub-slice of B, not a copy).
func (r *Reader) Bytes(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || n > len(r.B)-r.Off {
		r.Fail("length past the end")
		return nil
	}
	s := r.B[r.Off : r.Off+n]
	r.Off += n
	return s
}

// ULEB reads an unsigned LEB128 of at most maxBytes bytes.
func (r *Reader) ULEB(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.Fail("LEB128 too long")
	return 0
}

// U32 reads a u32 (an index, count or size).
func (r *Reader) U32() uint32 {
	v := r.ULEB(5)
	if v > 0xFFFFFFFF {
		r.Fail("u32 out of range")
		return 0
	}
	return uint32(v)
}

// SkipSLEB skips a signed LEB128 (an i32 or i64 constant, or an s33 type index).
func (r *Reader) SkipSLEB() { r.ULEB(10) }

// Name reads a name (a length-prefixed byte string).
func (r *Reader) Name() string {
	n := r.U32()
	return string(r.Bytes(int(n)))
}

func isValType(c byte) bool {
	switch c {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F: // i32 i64 f32 f64 v128 funcref externref
		return true
	}
	return false
}

// ValType reads a value type and returns it.
func (r *Reader) ValType() byte {
	c := r.Byte()
	if r.Err == nil && !isValType(c) {
		r.Fail(fmt.Sprintf("value type 0x%x", c))
	}
	return c
}

// RefType reads a reference type (funcref or externref).
func (r *Reader) RefType() {
	if c := r.Byte(); r.Err == nil && c != 0x70 && c != 0x6F {
		r.Fail(fmt.Sprintf("reference type 0x%x", c))
	}
}

// BlockType reads a block type: empty, a value type, or a type index.
func (r *Reader) BlockType() {
	if r.Off >= len(r.B) {
		r.Fail("unexpected end")
		return
	}
	if c := r.B[r.Off]; c == 0x40 || isValType(c) {
		r.Off++
		return
	}
	r.SkipSLEB() // type index (s33)
}

// Limits reads the limits of a memory or table.
func (r *Reader) Limits() {
	flags := r.Byte()
	if flags > 7 {
		r.Fail(fmt.Sprintf("limits flags 0x%x", flags))
		return
	}
	r.ULEB(10)
	if flags&1 != 0 {
		r.ULEB(10)
	}
}

// MemArg reads a load or store's alignment and offset and reports the memory index (not
// zero only with the multi-memory proposal).
func (r *Reader) MemArg() (memory uint32) {
	align := r.U32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		memory = r.U32()
	}
	r.ULEB(10) // offset (u64 with memory64)
	return memory
}

// AppendU32 appends v as an unsigned LEB128.
func AppendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendS64 appends v as a signed LEB128.
func AppendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendName appends a name: its length, then its bytes.
func AppendName(b []byte, s string) []byte {
	return append(AppendU32(b, uint32(len(s))), s...)
}

// AppendSection appends a section: id, size, body.
func AppendSection(b []byte, id byte, body []byte) []byte {
	return append(AppendU32(append(b, id), uint32(len(body))), body...)
}

// ExtendVec returns a vector's bytes with its count raised by n (the entries follow unchanged).
func ExtendVec(b []byte, n uint32) []byte {
	r := &Reader{B: b}
	count := r.U32()
	return append(AppendU32(nil, count+n), r.B[r.Off:]...)
}
