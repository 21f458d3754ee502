package meter

import "fmt"

// reader decodes the binary format; the first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrUnsupported, what, r.off)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("length past the end")
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

// uleb reads an unsigned LEB128 of at most maxBytes bytes.
func (r *reader) uleb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 too long")
	return 0
}

func (r *reader) u32() uint32 {
	v := r.uleb(5)
	if v > 0xFFFFFFFF {
		r.fail("u32 out of range")
		return 0
	}
	return uint32(v)
}

// sleb skips a signed LEB128 (an i32 or i64 constant, or an s33 type index).
func (r *reader) sleb() {
	r.uleb(10)
}

func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(int(n)))
}

func isValType(c byte) bool {
	switch c {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F: // i32 i64 f32 f64 v128 funcref externref
		return true
	}
	return false
}

func (r *reader) valType() {
	if c := r.byte(); r.err == nil && !isValType(c) {
		r.fail(fmt.Sprintf("value type 0x%x", c))
	}
}

func (r *reader) refType() {
	if c := r.byte(); r.err == nil && c != 0x70 && c != 0x6F {
		r.fail(fmt.Sprintf("reference type 0x%x", c))
	}
}

func (r *reader) heapType() { r.refType() }

func (r *reader) blockType() {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return
	}
	if c := r.b[r.off]; c == 0x40 || isValType(c) {
		r.off++
		return
	}
	r.sleb() // type index (s33)
}

func (r *reader) limits() {
	flags := r.byte()
	if flags > 7 {
		r.fail(fmt.Sprintf("limits flags 0x%x", flags))
		return
	}
	r.uleb(10)
	if flags&1 != 0 {
		r.uleb(10)
	}
}

func (r *reader) memArg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.uleb(10) // offset (u64 with memory64)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
