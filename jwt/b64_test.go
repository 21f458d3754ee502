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
