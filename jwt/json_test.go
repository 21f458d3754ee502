package jwt

import (
	"errors"
	mrand "math/rand/v2"
	"testing"
)

func isPlain(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }

// TestPlain8 checks the SWAR test never calls a special byte plain.
func TestPlain8(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			b := []byte("aaaaaaaa")
			b[pos] = byte(c)
			if got := plain8(load64(b, 0)); got != isPlain(byte(c)) {
				t.Fatalf("byte %#x at %d: plain8 = %v", c, pos, got)
			}
		}
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		b := make([]byte, 8)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		all := true
		for _, c := range b {
			all = all && isPlain(c)
		}
		if plain8(load64(b, 0)) && !all {
			t.Fatalf("%q called plain", b)
		}
	}
}

func TestCheckJSONObject(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{`{}`, nil},
		{` {"a" : [1, -2.5e+3, true, false, null, "x\u00e9\n"] } `, nil},
		{`{"long string without specials, more than eight bytes":"0123456789abcdef"}`, nil},
		{"{\"a\":\"caf\xc3\xa9 ok\"}", nil},
		{`{"a":1,"b":{"a":2}}`, nil},
		{`{"a":1,"a":2}`, errJSONDup},
		{`{"a":1,"\u0061":2}`, errJSONDup},
		{`{"a\"":1,"a\u0022":2}`, errJSONDup},
		{`{"a":1,"b":2,"c":{"x":1,"x":1}}`, errJSONDup},
		{`[]`, errJSONObject},
		{``, errJSONObject},
		{`{"a":1}}`, errJSONSyntax},
		{`{"a":"unterminated}`, errJSONSyntax},
		{"{\"a\":\"\xff\xfe\"}", errJSONSyntax},
		{"{\"a\":\"tab\there\"}", errJSONSyntax},
		{`{"a":"0123456789\"0123456789"}`, nil},
		{`{"a":"01234567\\"}`, nil},
		{`{"a":-}`, errJSONSyntax},
		{`{"a":1.}`, errJSONSyntax},
		{`{"a":.5}`, errJSONSyntax},
		{`{"a":tru}`, errJSONSyntax},
		{`{a:1}`, errJSONSyntax},
		{`{"a":1,}`, errJSONSyntax},
		{`{"a":[1,]}`, errJSONSyntax},
	}
	for _, tc := range tests {
		if err := checkJSONObject([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("checkJSONObject(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}
