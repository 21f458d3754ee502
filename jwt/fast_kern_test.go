package jwt

import (
	"testing"

	"github.com/gatewarden/gatewarden/internal/wasmkern"
)

// TestKernelLayout: the Go side lays out the kernels' buffers as internal/wasmkern expects.
func TestKernelLayout(t *testing.T) {
	if kernPad != wasmkern.Pad || kernBufLen != wasmkern.BufLen || rsa28Limbs != wasmkern.Limbs {
		t.Fatalf("jwt kernel layout (pad %d, len %d, limbs %d) differs from internal/wasmkern (%d, %d, %d)",
			kernPad, kernBufLen, rsa28Limbs, wasmkern.Pad, wasmkern.BufLen, wasmkern.Limbs)
	}
}
