package abi

import (
	"errors"
	"reflect"
	"testing"
)

func TestHeaderMapRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		headers []Header
	}{
		{name: "empty"},
		{name: "one", headers: []Header{{Key: ":path", Value: "/api"}}},
		{name: "empty values", headers: []Header{{Key: "a", Value: ""}, {Key: "", Value: "b"}}},
		{name: "repeated keys", headers: []Header{{Key: "x", Value: "1"}, {Key: "x", Value: "2"}}},
		{name: "binary", headers: []Header{{Key: "k", Value: "\xff\x01 é"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeHeaderMap(EncodeHeaderMap(tt.headers))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.headers) || (len(got) > 0 && !reflect.DeepEqual(got, tt.headers)) {
				t.Fatalf("round trip = %q, want %q", got, tt.headers)
			}
		})
	}
}

func TestHeaderMapWireFormat(t *testing.T) {
	// Two pairs, from the spec's example layout (with its typos corrected).
	want := []byte{2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
		'a', 0, '1', 0, 'b', 0, '2', '2', 0}
	got := EncodeHeaderMap([]Header{{"a", "1"}, {"b", "22"}})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("encoding = %v, want %v", got, want)
	}
}

func TestDecodeHeaderMapRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"short count", []byte{1, 0}},
		{"count without lengths", []byte{1, 0, 0, 0}},
		{"too many pairs", []byte{0xff, 0xff, 0, 0}},
		{"length past end", []byte{1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0}},
		{"missing key NUL", []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 'x', 'b', 0}},
		{"missing value NUL", []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 'b', 'x'}},
		{"trailing bytes", []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 'b', 0, 'z'}},
		{"huge lengths overflow", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeHeaderMap(tt.in); !errors.Is(err, ErrHeaderMap) {
				t.Fatalf("DecodeHeaderMap(%v) error = %v, want ErrHeaderMap", tt.in, err)
			}
		})
	}
}

func FuzzDecodeHeaderMap(f *testing.F) {
	f.Add(EncodeHeaderMap([]Header{{"a", "1"}, {"b", "22"}}))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := DecodeHeaderMap(b)
		aliased, aerr := decodeHeaderMap(append([]byte(nil), b...), true, make([]Header, 0, 4))
		if (err == nil) != (aerr == nil) || len(aliased) != len(hs) {
			t.Fatalf("aliasing decode disagrees: %v vs %v", err, aerr)
		}
		for i := range hs {
			if hs[i] != aliased[i] {
				t.Fatalf("aliasing decode entry %d: %q vs %q", i, aliased[i], hs[i])
			}
		}
		if err != nil {
			return
		}
		again, err := DecodeHeaderMap(EncodeHeaderMap(hs))
		if err != nil || len(again) != len(hs) {
			t.Fatalf("re-decoding an accepted map failed: %v", err)
		}
		for i := range hs {
			if hs[i] != again[i] {
				t.Fatalf("entry %d changed: %q -> %q", i, hs[i], again[i])
			}
		}
	})
}
