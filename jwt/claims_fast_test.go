package jwt

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// numericDateRef is numericDate without the integer fast path (the ParseFloat rule).
func numericDateRef(raw []byte) (time.Time, bool) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), true
}

// audRef is the gjson reading of an aud array (the path audStrings shortcuts).
func audRef(raw []byte) ([]string, bool) {
	var out []string
	ok := true
	gjson.ParseBytes(raw).ForEach(func(_, a gjson.Result) bool {
		if a.Type != gjson.String {
			ok = false
			return false
		}
		out = append(out, a.Str)
		return true
	})
	return out, ok
}

var numericDateCases = []string{
	"0", "1", "1700000300", "253402300799", "253402300800", "999999999999",
	"1000000000000", "1.5", "1e9", "-1", "-0", "", "01", "1700000300.25", "12a",
}

var audCases = []string{
	`[]`, `["a"]`, `["api","account"]`, `[ "a" , "b" ]`, `[""]`, `["a",""]`,
	`["a",1]`, `[1,"a"]`, `["a",["b"]]`, `["a",{"b":"c"}]`, `["a\u0062"]`, `["\\"]`,
	`["é","ü"]`, `[null]`, `["a","b","c","d","e","f","g","h","i"]`,
}

// TestNumericDateFastPath checks the integer fast path against ParseFloat.
func TestNumericDateFastPath(t *testing.T) {
	for _, c := range numericDateCases {
		got, gok := numericDate([]byte(c))
		want, wok := numericDateRef([]byte(c))
		if gok != wok || !got.Equal(want) {
			t.Errorf("numericDate(%q) = %v, %v; want %v, %v", c, got, gok, want, wok)
		}
	}
}

// TestAudStrings checks the aud shortcut against the gjson reading: when it
// answers, it must agree; it must not answer for non-string elements.
func TestAudStrings(t *testing.T) {
	for _, c := range audCases {
		checkAud(t, []byte(c))
	}
	if _, ok := audStrings([]byte(`["a",1]`), nil); ok {
		t.Error(`audStrings(["a",1]) accepted a non-string element`)
	}
	if got, ok := audStrings([]byte(`["api","account"]`), nil); !ok || len(got) != 2 {
		t.Errorf(`audStrings(["api","account"]) = %q, %v; want the fast path`, got, ok)
	}
}

func checkAud(t *testing.T, raw []byte) {
	if checkJSONObject(append(append([]byte(`{"aud":`), raw...), '}')) != nil {
		return // audStrings only sees validated JSON
	}
	got, ok := audStrings(raw, nil)
	if !ok {
		return
	}
	want, wok := audRef(raw)
	if !wok || len(got) != len(want) {
		t.Fatalf("audStrings(%q) = %q; gjson %q, %v", raw, got, want, wok)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("audStrings(%q) = %q; gjson %q", raw, got, want)
		}
	}
}

// FuzzClaimsFast checks the numericDate and aud fast paths against the slow ones.
func FuzzClaimsFast(f *testing.F) {
	for _, c := range numericDateCases {
		f.Add(c)
	}
	for _, c := range audCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		if checkJSONObject(append(append([]byte(`{"x":`), raw...), '}')) == nil && len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
			got, gok := numericDate(raw)
			want, wok := numericDateRef(raw)
			if gok != wok || !got.Equal(want) {
				t.Fatalf("numericDate(%q) = %v, %v; want %v, %v", s, got, gok, want, wok)
			}
		}
		if len(raw) > 0 && raw[0] == '[' {
			checkAud(t, raw)
		}
	})
}

// TestSpecial8 checks that the lowest flag of special8 is the first special byte.
func TestSpecial8(t *testing.T) {
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	var b [8]byte
	for _, fill := range []byte{'a', 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d} {
		for pos := 0; pos < 8; pos++ {
			for _, c := range []byte{'"', '\\', 0, 0x1f, 0x80, 0xc3, 'x', ' ', 0x21, 0x23} {
				for i := range b {
					b[i] = 'a'
				}
				for i := pos + 1; i < 8; i++ {
					b[i] = fill
				}
				b[pos] = c
				want := -1
				for i := range b {
					if isSpecial(b[i]) {
						want = i
						break
					}
				}
				m := special8(load64(b[:], 0))
				got := -1
				if m != 0 {
					got = 0
					for m&(0x80<<(8*got)) == 0 {
						got++
					}
				}
				if got != want {
					t.Fatalf("special8(%q): first special at %d, want %d", b, got, want)
				}
			}
		}
	}
}
