package host

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestMapCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pairs []kv
	}{
		{"empty", nil},
		{"one", []kv{{"a", "1"}}},
		{"spec example", []kv{{"a", "1"}, {"b", "22"}}},
		{"empty value", []kv{{"x-empty", ""}, {":path", "/"}}},
		{"duplicates", []kv{{"set-cookie", "a"}, {"set-cookie", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendMap(nil, tt.pairs)
			if len(b) != mapSize(tt.pairs) {
				t.Fatalf("len %d, mapSize %d", len(b), mapSize(tt.pairs))
			}
			got, err := decodeMap(b, maxMapPairs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.pairs) {
				t.Fatalf("got %d pairs, want %d", len(got), len(tt.pairs))
			}
			for i := range got {
				if got[i] != tt.pairs[i] {
					t.Errorf("pair %d = %v, want %v", i, got[i], tt.pairs[i])
				}
			}
		})
	}
}

func TestMapSpecBytes(t *testing.T) {
	// The spec's example {"a": "1", "b": "22"} (with its 0x49/0x50 typos fixed).
	want := []byte{2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
		'a', 0, '1', 0, 'b', 0, '2', '2', 0}
	if got := appendMap(nil, []kv{{"a", "1"}, {"b", "22"}}); !bytes.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestDecodeMapRejects(t *testing.T) {
	le := func(xs ...uint32) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	good := appendMap(nil, []kv{{"a", "1"}})
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"zero bytes is empty", nil, true},
		{"single NUL is empty", []byte{0}, true},
		{"count zero", le(0), true},
		{"count zero trailing", append(le(0), 1), false},
		{"short header", []byte{1, 0}, false},
		{"count without sizes", le(1), false},
		{"huge count", le(0xFFFFFFFF), false},
		{"over pair limit", le(maxMapPairs + 1), false},
		{"missing key NUL", append(le(1, 1, 1), 'a', 'x', '1', 0), false},
		{"missing value NUL", append(le(1, 1, 1), 'a', 0, '1', 'x'), false},
		{"truncated", good[:len(good)-1], false},
		{"trailing byte", append(append([]byte(nil), good...), 0), false},
		{"length overflow", append(le(1, 0xFFFFFFFF, 0xFFFFFFFF), 0, 0), false},
		{"good", good, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeMap(tt.in, maxMapPairs)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func FuzzDecodeHeaderMap(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(appendMap(nil, []kv{{"a", "1"}, {"b", "22"}}))
	f.Add(appendMap(nil, []kv{{":path", "/x?y"}, {"", ""}}))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, err := decodeMap(data, maxMapPairs)
		if err != nil {
			return
		}
		enc := appendMap(nil, pairs)
		if len(pairs) > 0 && !bytes.Equal(enc, data) {
			t.Fatalf("round trip changed bytes:\n in %v\nout %v", data, enc)
		}
		again, err := decodeMap(enc, maxMapPairs)
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("re-decode: %v, %d pairs, want %d", err, len(again), len(pairs))
		}
	})
}

func TestValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"x-a", true}, {":path", true}, {":", false}, {"", false}, {"a b", false}, {"a\r\n", false}, {"a:b", false}} {
		if validName([]byte(tt.name)) != tt.ok || validNameStr(tt.name) != tt.ok {
			t.Errorf("validName(%q) != %v", tt.name, tt.ok)
		}
	}
	for _, tt := range []struct {
		val string
		ok  bool
	}{{"abc", true}, {"", true}, {"a\rb", false}, {"a\nb", false}, {"a\x00", false}} {
		if validValue([]byte(tt.val)) != tt.ok || validValueStr(tt.val) != tt.ok {
			t.Errorf("validValue(%q) != %v", tt.val, tt.ok)
		}
	}
	if !equalFoldASCII([]byte("X-Test"), "x-test") || equalFoldASCII([]byte("x-tesT1"), "x-test") {
		t.Error("equalFoldASCII")
	}
	if lowerKey("Authorization") != "authorization" || lowerKey("X-Foo-Bar") != "x-foo-bar" || lowerKey("abc") != "abc" {
		t.Error("lowerKey")
	}
}
