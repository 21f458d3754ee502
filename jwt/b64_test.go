package jwt

import (
	"bytes"
	"testing"
)

func TestDecodeB64(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"QQ", "A", true},
		{"QUI", "AB", true},
		{"QUJD", "ABC", true},
		{"QUJDRA", "ABCD", true},
		{"QUJDREVGR0g", "ABCDEFGH", true},
		{"_-_-", "\xff\xef\xfe", true},
		{"Q", "", false},
		{"QR", "", false},  // non-zero trailing bits
		{"QUJ", "", false}, // non-zero trailing bits
		{"QQ==", "", false},
		{"QQ=", "", false},
		{"QU+D", "", false},
		{"QU/D", "", false},
		{"QU\nJD", "", false},
		{"QUJD\r", "", false},
		{"QUJD QUJD", "", false},
		{"QUJDQUJD\x00", "", false},
	}
	for _, tc := range tests {
		got, ok := decodeB64(tc.in)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("decodeB64(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzB64 checks decodeB64 against the stdlib strict decoder (minus its CR/LF skipping).
func FuzzB64(f *testing.F) {
	for _, s := range []string{"", "QQ", "QR", "QUJD", "QUJDREVGR0g", "QQ==", "Q\nQ", "-_", "+/", "AAAAAAAAB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodeB64(s)
		want, err := b64.DecodeString(s)
		stdOK := err == nil && !bytes.ContainsAny([]byte(s), "\r\n")
		if ok != stdOK || ok && !bytes.Equal(got, want) {
			t.Fatalf("decodeB64(%q) = %x, %v; stdlib %x, %v", s, got, ok, want, err)
		}
	})
}

// TestB64Word checks the SWAR decoder against the table, every byte value at every
// position, among valid and invalid neighbours.
func TestB64Word(t *testing.T) {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for fill := 0; fill < 4; fill++ {
				var b [8]byte
				for i := range b {
					b[i] = alpha[(i*23+c*7+fill*5)%64]
					if fill == 3 && i != pos {
						b[i] = byte(255 - c)
					}
				}
				b[pos] = byte(c)
				var want uint64
				wok := true
				for i := 0; i < 8; i += 4 {
					a, bb, cc, d := b64Dec[b[i]], b64Dec[b[i+1]], b64Dec[b[i+2]], b64Dec[b[i+3]]
					if (a|bb|cc|d)&0xc0 != 0 {
						wok = false
					}
					v := uint64(a)<<18 | uint64(bb)<<12 | uint64(cc)<<6 | uint64(d)
					want |= (v>>16&0xff | (v>>8&0xff)<<8 | (v&0xff)<<16) << (6 * i)
				}
				got, ok := b64Word(load64(b[:], 0))
				if ok != wok || ok && got != want {
					t.Fatalf("b64Word(%q) = %#x, %v; want %#x, %v", b, got, ok, want, wok)
				}
			}
		}
	}
}

// TestB64WordInline checks the hand-inlined copy of b64Word in decodeB64Into
// against b64Word.
func TestB64WordInline(t *testing.T) {
	if !unalignedLE {
		t.Skip("no SWAR path on this architecture")
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [8]byte
	for i := 0; i < 200000; i++ {
		for j := range b {
			b[j] = alpha[(i*(j+3)+i>>(j+1)+j*j)%64]
		}
		if i%7 == 0 {
			b[i%8] = byte(i >> 3)
		}
		want, ok := b64Word(load64(b[:], 0))
		out := make([]byte, 6)
		got, gok := decodeB64Into(out, string(b[:]))
		var w [8]byte
		for j := range w {
			w[j] = byte(want >> (8 * j))
		}
		if ok != gok || ok && string(got) != string(w[:6]) {
			t.Fatalf("decodeB64Into(%q) = %x, %v; b64Word %x, %v", b, got, gok, w[:6], ok)
		}
	}
}
