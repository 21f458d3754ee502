//go:build wasm && gatewarden_fast

package jwt

import (
	"sync"
	"unsafe"
)

// kernelsBuiltIn reports whether this build calls the spliced wasm kernels.
const kernelsBuiltIn = true

// The kernels (internal/wasmkern.Mont28Mul, Mont28Sqr and Sha256Blocks). Go passes each
// pointer as an i32 address in linear memory; the kernels read and write only inside the
// buffers (a test in internal/wasmkern proves it with the buffers at the edges of memory),
// whose sizes the types and the block count fix.
//
//go:wasmimport gatewarden_fast mont28_mul
//go:noescape
func kernMont28Mul(z, x, y, n, q *kernBuf, n0inv uint64)

//go:wasmimport gatewarden_fast mont28_sqr
//go:noescape
func kernMont28Sqr(z, x, n, q *kernBuf, n0inv uint64)

//go:wasmimport gatewarden_fast sha256_blocks
//go:noescape
func kernSha256Blocks(st *[8]uint32, p *byte, blocks uint32)

//go:wasmimport gatewarden_fast b64url_decode
//go:noescape
func kernB64URLDecode(dst, src *byte, n uint32) uint32

// b64Kernel decodes the whole 16-character groups of s into out (which holds at least
// b64DecodedLen(len(s)) bytes) with the SIMD kernel. It returns how many characters and bytes
// it did (0, 0 when the kernels are switched off) and false if a group was not base64url.
func b64Kernel(out []byte, s string) (si, di int, ok bool) {
	n := len(s) &^ 15
	if !useKernels || n == 0 {
		return 0, 0, true
	}
	_ = out[n/4*3-1] // the kernel writes exactly n/4*3 bytes
	if kernB64URLDecode(&out[0], unsafe.StringData(s), uint32(n)) != 1 {
		return 0, 0, false
	}
	return n, n / 4 * 3, true
}

// sha256Blocks runs the compression function over len(p)/64 blocks.
func sha256Blocks(st *[8]uint32, p []byte) {
	if !useKernels {
		sha256BlocksGo(st, p)
		return
	}
	if len(p) >= 64 {
		kernSha256Blocks(st, &p[0], uint32(len(p)/64))
	}
}

// kern28 is the per-key data of the kernels: the modulus and R^2 mod n in kernel buffers.
type kern28 struct {
	n, rr kernBuf
	n0inv uint64
}

func (k *kern28) init(m *mont28) {
	for j := 0; j < rsa28Limbs; j++ {
		k.n[kernPad+j] = uint64(m.n[rsa28Pad+j])
		k.rr[kernPad+j] = uint64(m.rr[rsa28Pad+j])
	}
	k.n0inv = m.n0inv
}

// kernScratch is the per-call working memory of exp, pooled (and on the heap, where the
// kernels' pointers stay valid: goroutine stacks can move).
type kernScratch struct {
	s, x, acc, q kernBuf
	t            [rsa2048Limbs + 1]uint32
}

var kernPool = sync.Pool{New: func() any { return new(kernScratch) }}

// exp is exp28 with the spliced kernels: sv (sig as 32-bit limbs, < n) to the power m.e,
// fully reduced 32-bit limbs in out (len 64). It reports false, doing nothing, when the
// kernels are switched off (tests).
func (k *kern28) exp(m *montRSA, out, sv []uint32) bool {
	if !useKernels {
		return false
	}
	b := kernPool.Get().(*kernScratch)
	defer kernPool.Put(b)
	s, x, acc, q := &b.s, &b.x, &b.acc, &b.q
	const P = kernPad
	repackLimbs(s[P:P+rsa28Limbs], 28, sv[:rsa2048Limbs], 32)
	kernMont28Mul(x, s, &k.rr, &k.n, q, k.n0inv) // x = sig*R mod n (< 2n)
	montPow28(m.e, acc, x, s, func(b *kernBuf) { clear(b[P : P+rsa28Limbs]); b[P] = 1 },
		func(z *kernBuf) { kernMont28Sqr(z, z, &k.n, q, k.n0inv) },
		func(z, y *kernBuf) { kernMont28Mul(z, z, y, &k.n, q, k.n0inv) })
	t := b.t[:]
	repackLimbs(t, 32, acc[P:P+rsa28Limbs], 28)
	reduceOnce(t, m.n) // acc < 2n
	copy(out, t[:rsa2048Limbs])
	return true
}
