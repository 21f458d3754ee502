package jwt

import (
	"encoding/base64"
	"runtime"
	"unsafe"
)

// b64 encodes (Sign, JWKS); decoding in the verify path uses decodeB64 below.
var b64 = base64.RawURLEncoding.Strict()

// b64Dec maps a base64url character to its 6-bit value, 0xff for anything else
// (padding, whitespace, the standard alphabet's '+' and '/').
var b64Dec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = byte(i)
	}
	return t
}()

// isB64URL reports whether s uses only the base64url alphabet.
func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b64Dec[s[i]] == 0xff {
			return false
		}
	}
	return true
}

// decodeB64 strictly decodes unpadded base64url (RFC 7515 section 2): no padding,
// no whitespace (the stdlib decoder skips CR/LF), no non-zero trailing bits. It
// agrees with base64.RawURLEncoding.Strict() on every input it accepts (fuzzed);
// the hand-written loop handles 8 characters per iteration, which matters in wasm.
func decodeB64(s string) ([]byte, bool) {
	if len(s)%4 == 1 {
		return nil, false
	}
	return decodeB64Into(make([]byte, b64DecodedLen(len(s))), s)
}

// b64DecodedLen is the decoded size of n base64url characters (n%4 != 1).
func b64DecodedLen(n int) int { return n * 3 / 4 }

// decodeB64Into is decodeB64 writing into out, which must hold b64DecodedLen(len(s))
// bytes; it returns out trimmed to the decoded length. The verify path uses it to
// decode header, payload and signature into one allocation.
func decodeB64Into(out []byte, s string) ([]byte, bool) {
	n := len(s)
	if n%4 == 1 {
		return nil, false
	}
	out = out[:n*3/4]
	// Whole groups of 16 by the SIMD kernel where it is spliced in (fast_kern_spliced.go).
	si, di, ok := b64Kernel(out, s)
	if !ok {
		return nil, false
	}
	if unalignedLE {
		// Eight characters per iteration in one 64-bit word: no table lookups, one
		// load and two stores (each memory access is bounds-checked in wasm).
		const l, h = 0x0101010101010101, 0x8080808080808080
		src := bytesOf(s)
		for ; si+8 <= n; si, di = si+8, di+6 {
			// b64Word, inlined by hand (too large for the inliner; a call per word
			// costs more than the word in wasm).
			x := load64(src, si)
			upper := (x + l*(0x80-'A')) &^ (x + l*(0x7f-'Z')) & h
			lower := (x + l*(0x80-'a')) &^ (x + l*(0x7f-'z')) & h
			digit := (x + l*(0x80-'0')) &^ (x + l*(0x7f-'9')) & h
			dash := (x + l*(0x80-'-')) &^ (x + l*(0x7f-'-')) & h
			under := (x + l*(0x80-'_')) &^ (x + l*(0x7f-'_')) & h
			if x&h != 0 || upper|lower|digit|dash|under != h {
				return nil, false
			}
			v := x - (upper>>7)*'A' - (lower>>7)*('a'-26) + (digit>>7)*(52-'0') + (dash>>7)*(62-'-') - (under>>7)*('_'-63)
			v = (v&0x003f003f003f003f)<<6 | (v>>8)&0x003f003f003f003f
			v = (v&0x00000fff00000fff)<<12 | (v>>16)&0x00000fff00000fff
			v = v&0x0000ff000000ff00 | (v>>16)&0x000000ff000000ff | (v&0x000000ff000000ff)<<16
			v = v&0xffffff | (v>>8)&0xffffff000000
			_ = out[di+5]
			*(*uint32)(unsafe.Pointer(&out[di])) = uint32(v)
			*(*uint16)(unsafe.Pointer(&out[di+4])) = uint16(v >> 32)
		}
	}
	for ; si+8 <= n; si, di = si+8, di+6 {
		a, b, c, d := b64Dec[s[si]], b64Dec[s[si+1]], b64Dec[s[si+2]], b64Dec[s[si+3]]
		e, f, g, h := b64Dec[s[si+4]], b64Dec[s[si+5]], b64Dec[s[si+6]], b64Dec[s[si+7]]
		if (a|b|c|d|e|f|g|h)&0xc0 != 0 { // 0xff marks an invalid character
			return nil, false
		}
		v := uint64(a)<<42 | uint64(b)<<36 | uint64(c)<<30 | uint64(d)<<24 | uint64(e)<<18 | uint64(f)<<12 | uint64(g)<<6 | uint64(h)
		out[di], out[di+1], out[di+2], out[di+3], out[di+4], out[di+5] = byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	if n-si >= 4 {
		a, b, c, d := b64Dec[s[si]], b64Dec[s[si+1]], b64Dec[s[si+2]], b64Dec[s[si+3]]
		if (a|b|c|d)&0xc0 != 0 {
			return nil, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		out[di], out[di+1], out[di+2] = byte(v>>16), byte(v>>8), byte(v)
		si, di = si+4, di+3
	}
	var v uint32
	rem := n - si
	for i := 0; i < rem; i++ {
		x := b64Dec[s[si+i]]
		if x == 0xff {
			return nil, false
		}
		v = v<<6 | uint32(x)
	}
	switch rem {
	case 3: // 18 bits: 2 bytes + 2 zero bits
		if v&3 != 0 {
			return nil, false
		}
		out[di], out[di+1] = byte(v>>10), byte(v>>2)
		di += 2
	case 2: // 12 bits: 1 byte + 4 zero bits
		if v&15 != 0 {
			return nil, false
		}
		out[di] = byte(v >> 4)
		di++
	}
	return out[:di], true
}

// unalignedLE is set on architectures that are little-endian and allow unaligned
// loads and stores (the SWAR decoder relies on both).
var unalignedLE = runtime.GOARCH == "wasm" || runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "386"

// b64Word decodes eight base64url characters, x holding them little-endian (the
// first character in the low byte), into six bytes, the first in the low byte of the
// result. It reports false when any of the eight is outside the alphabet.
//
// SWAR: every byte is classified by range tests on the whole word. For bytes below
// 0x80 (checked first), adding 0x80-lo sets bit 7 exactly when the byte is >= lo,
// without a carry into the next byte, so (x + (0x80-lo)) &^ (x + (0x7f-hi)) flags the
// bytes in [lo, hi].
func b64Word(x uint64) (uint64, bool) {
	const l, h = 0x0101010101010101, 0x8080808080808080
	upper := (x + l*(0x80-'A')) &^ (x + l*(0x7f-'Z')) & h
	lower := (x + l*(0x80-'a')) &^ (x + l*(0x7f-'z')) & h
	digit := (x + l*(0x80-'0')) &^ (x + l*(0x7f-'9')) & h
	dash := (x + l*(0x80-'-')) &^ (x + l*(0x7f-'-')) & h
	under := (x + l*(0x80-'_')) &^ (x + l*(0x7f-'_')) & h
	if x&h != 0 || upper|lower|digit|dash|under != h {
		return 0, false
	}
	// Per byte: 'A'-'Z' -> 0-25, 'a'-'z' -> 26-51, '0'-'9' -> 52-61, '-' -> 62,
	// '_' -> 63. Each byte gets exactly one offset and stays in 0..0x7f: no carries.
	v := x - (upper>>7)*'A' - (lower>>7)*('a'-26) + (digit>>7)*(52-'0') + (dash>>7)*(62-'-') - (under>>7)*('_'-63)
	// Pack: 8 x 6 bits -> 4 x 12 -> 2 x 24 (each 24-bit group big-endian: b0 b1 b2).
	v = (v&0x003f003f003f003f)<<6 | (v>>8)&0x003f003f003f003f
	v = (v&0x00000fff00000fff)<<12 | (v>>16)&0x00000fff00000fff
	// Reverse the bytes of each 24-bit group to memory order, then join the groups.
	v = v&0x0000ff000000ff00 | (v>>16)&0x000000ff000000ff | (v&0x000000ff000000ff)<<16
	return v&0xffffff | (v>>8)&0xffffff000000, true
}
