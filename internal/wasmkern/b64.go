package wasmkern

import "github.com/gatewarden/gatewarden/internal/wasmbin"

// base64url decoding (RFC 4648 section 5, no padding) sixteen characters at a time with 128-bit
// SIMD (core specification 2.0, fixed-width SIMD): classify every character into its range of
// the alphabet with wrapping byte subtractions and unsigned compares, add the range's offset,
// then pack 16 x 6 bits into 12 bytes with lane shifts and one shuffle. Go's wasm backend emits
// no SIMD; its SWAR decoder (jwt/b64.go) does 8 characters per step in scalar code.

// B64URLDecode(dst *byte, src *byte, n uint32) uint32 decodes the first n - n%16 characters
// at src into 3/4 as many bytes at dst and returns 1, or returns 0 as soon as a 16-character
// group holds a byte outside the alphabet (dst then holds a prefix of the output). It reads
// src[0 : n-n%16] and writes exactly dst[0 : (n-n%16)/4*3]. The caller decodes the last n%16
// characters and checks the trailing bits.
const B64URLDecode = "b64url_decode"

// SIMD opcodes: prefix 0xFD, then the sub-opcode as a LEB128 u32.
const (
	typeV128     = 0x7B
	opReturn     = 0x0F
	opI32LtU     = 0x49
	vV128Load    = 0x00
	vV128Const   = 0x0C
	vI8Shuffle   = 0x0D
	vI8Eq        = 0x23
	vI8LtU       = 0x26
	vV128And     = 0x4E
	vV128Or      = 0x50
	vStore32Lane = 0x5A
	vStore64Lane = 0x5B
	vI8AllTrue   = 0x63
	vI8Add       = 0x6E
	vI8Sub       = 0x71
	vI16Shl      = 0x8B
	vI16ShrU     = 0x8D
	vI32Shl      = 0xAB
	vI32ShrU     = 0xAD
)

func (f *fn) simd(sub uint32) { f.code = wasmbin.AppendU32(append(f.code, wasmbin.OpPrefixSIMD), sub) }

// v128 pushes a 16-byte constant made of lanes of width bytes (1, 2 or 4), each v.
func (f *fn) v128(width int, v uint32) {
	f.simd(vV128Const)
	for i := 0; i < 16; i++ {
		f.op(byte(v >> (8 * (i % width))))
	}
}

func genB64() *fn {
	f := newFn([]byte{typeI32, typeI32, typeI32}, []byte{typeI32})
	const dst, src, n = 0, 1, 2
	c := f.local(typeV128)
	up, lo, di, da, un := f.local(typeV128), f.local(typeV128), f.local(typeV128), f.local(typeV128), f.local(typeV128)
	f.op(opBlock, blockEmpty)
	f.op(opLoop, blockEmpty)
	f.get(n)
	f.i32(16)
	f.op(opI32LtU)
	f.brIf(1)
	f.get(src)
	f.simd(vV128Load)
	f.code = appendMemArg(f.code, 0, 0)
	f.set(c)
	// The classes: 'A'-'Z', 'a'-'z', '0'-'9' (c - lo < span, unsigned), '-' and '_'.
	class := func(first byte, span uint32, mask uint32) {
		f.get(c)
		f.v128(1, uint32(first))
		f.simd(vI8Sub)
		f.v128(1, span)
		f.simd(vI8LtU)
		f.set(mask)
	}
	class('A', 26, up)
	class('a', 26, lo)
	class('0', 10, di)
	for _, m := range []struct {
		ch   byte
		mask uint32
	}{{'-', da}, {'_', un}} {
		f.get(c)
		f.v128(1, uint32(m.ch))
		f.simd(vI8Eq)
		f.set(m.mask)
	}
	// Every byte in some class, or fail.
	f.get(up)
	for _, m := range []uint32{lo, di, da, un} {
		f.get(m)
		f.simd(vV128Or)
	}
	f.simd(vI8AllTrue)
	f.op(opI32Eqz)
	f.op(opIf, blockEmpty)
	f.i32(0)
	f.op(opReturn)
	f.op(opEnd)
	// Values: c plus its class's offset ('A' -> 0, 'a' -> 26, '0' -> 52, '-' -> 62, '_' -> 63;
	// wrapping bytes). The classes are disjoint, so the masked offsets can be or-ed.
	f.get(c)
	for i, m := range []struct {
		mask  uint32
		delta int
	}{{up, -'A'}, {lo, 26 - 'a'}, {di, 52 - '0'}, {da, 62 - '-'}, {un, 63 - '_'}} {
		f.get(m.mask)
		f.v128(1, uint32(byte(m.delta)))
		f.simd(vV128And)
		if i > 0 {
			f.simd(vV128Or)
		}
	}
	f.simd(vI8Add)
	// 16-bit lanes v0 | v1<<8 -> v0<<6 | v1 (12 bits).
	f.tee(c)
	f.i32(6)
	f.simd(vI16Shl)
	f.v128(2, 0x0FC0)
	f.simd(vV128And)
	f.get(c)
	f.i32(8)
	f.simd(vI16ShrU)
	f.simd(vV128Or)
	// 32-bit lanes p0 | p1<<16 -> p0<<12 | p1 (24 bits: the three output bytes, high first).
	f.tee(c)
	f.i32(12)
	f.simd(vI32Shl)
	f.v128(4, 0x00FFF000)
	f.simd(vV128And)
	f.get(c)
	f.i32(16)
	f.simd(vI32ShrU)
	f.simd(vV128Or)
	// Bytes in memory order: 2 1 0 of each lane; store the 12 meaningful ones.
	f.set(c)
	f.get(dst)
	f.get(c)
	f.get(c)
	f.simd(vI8Shuffle)
	f.op(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 0, 0, 0, 0)
	f.tee(c)
	f.simd(vStore64Lane)
	f.code = appendMemArg(f.code, 0, 0)
	f.op(0) // 64-bit lane 0: bytes 0-7
	f.get(dst)
	f.get(c)
	f.simd(vStore32Lane)
	f.code = appendMemArg(f.code, 0, 8)
	f.op(2) // 32-bit lane 2: bytes 8-11
	for _, s := range []struct {
		l uint32
		d int32
	}{{src, 16}, {dst, 12}, {n, -16}} {
		f.get(s.l)
		f.i32(s.d)
		f.op(opI32Add)
		f.set(s.l)
	}
	f.br(0)
	f.op(opEnd) // loop
	f.op(opEnd) // block
	f.i32(1)
	return f
}
