package wasmbin

import "testing"

func TestLEB(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 300, 1 << 21, 0xFFFFFFFF} {
		r := &Reader{B: AppendU32(nil, v)}
		if got := r.U32(); got != v || r.Err != nil || !r.Done() {
			t.Errorf("u32 %d: %d %v", v, got, r.Err)
		}
	}
	for _, v := range []int64{0, 1, 63, 64, -1, -64, -65, 4096, 1 << 40, -1 << 40} {
		b := AppendS64(nil, v)
		// decode signed
		var x int64
		var shift uint
		var c byte
		for i := 0; ; i++ {
			c = b[i]
			x |= int64(c&0x7F) << shift
			shift += 7
			if c&0x80 == 0 {
				if i != len(b)-1 {
					t.Fatalf("s64 %d: trailing bytes", v)
				}
				break
			}
		}
		if shift < 64 && c&0x40 != 0 {
			x |= -1 << shift
		}
		if x != v {
			t.Errorf("s64 %d decoded as %d", v, x)
		}
	}
}
