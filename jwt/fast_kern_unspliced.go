//go:build !(wasm && gatewarden_fast)

package jwt

// kernelsBuiltIn reports whether this build calls the spliced wasm kernels (it does not).
const kernelsBuiltIn = false

// kern28 is the per-key data of the spliced kernels: none in this build.
type kern28 struct{}

func (k *kern28) init(*mont28) {}

// exp does nothing in this build; exp28 runs the Go code.
func (k *kern28) exp(*montRSA, []uint32, []uint32) bool { return false }

// sha256Blocks runs the compression function over len(p)/64 blocks.
func sha256Blocks(st *[8]uint32, p []byte) { sha256BlocksGo(st, p) }

// b64Kernel decodes nothing in this build; decodeB64Into runs the Go code.
func b64Kernel([]byte, string) (si, di int, ok bool) { return 0, 0, true }
