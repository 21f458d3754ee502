package jwt

// The spliced wasm kernels: builds with GOARCH=wasm and the build tag gatewarden_fast run the
// Montgomery products of exp28 and SHA-256's compression function in hand-written wasm
// (internal/wasmkern) instead of the Go code of fast_lazy_mul.go and fast_sha256.go, two to
// three times as fast in wazero. The Go side calls them through //go:wasmimport stubs
// (fast_kern_spliced.go), and cmd/wasmsplice replaces those imports with the kernels'
// bodies in the built module; an unspliced module does not instantiate, since no host
// provides the gatewarden_fast imports. Every other build (fast_kern_unspliced.go) keeps
// the Go code.

// The kernels' operand buffers (internal/wasmkern.BufLen): one 28-bit limb per uint64,
// value limbs at [kernPad, kernPad+rsa28Limbs), every other slot zero and never written.
// A native test checks these against internal/wasmkern.
const (
	kernPad    = 20
	kernBufLen = rsa28Limbs + 2*kernPad
)

type kernBuf = [kernBufLen]uint64

// useKernels selects the spliced kernels where they are built in (tests compare both paths).
var useKernels = true
