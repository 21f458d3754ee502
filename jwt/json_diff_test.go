package jwt

import (
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"testing"
)

// fpOf is keyFP of a name.
func fpOf(s string) uint64 { return keyFP([]byte(s)) }

func TestKeyFPConstants(t *testing.T) {
	for name, fp := range map[string]uint64{
		"iss": fpIss, "sub": fpSub, "azp": fpAzp, "typ": fpTyp, "exp": fpExp, "nbf": fpNbf,
		"iat": fpIat, "aud": fpAud, "alg": fpAlg, "kid": fpKid, "crit": fpCrit, "b64": fpB64,
		"zip": fpZip,
	} {
		if got := fpOf(name); got != fp {
			t.Errorf("keyFP(%q) = %#x, constant %#x", name, got, fp)
		}
	}
	// Short keys: equal fingerprints exactly when equal keys.
	keys := []string{"", "a", "a\x00", "\x00", "\x00\x00", "ab", "ba", "abcdefg", "abcdefh", "abcdef"}
	for _, a := range keys {
		for _, b := range keys {
			if (fpOf(a) == fpOf(b)) != (a == b) {
				t.Errorf("keyFP(%q) == keyFP(%q) is %v", a, b, a != b)
			}
		}
	}
}

// jsonDiffSeeds are inputs for the differential tests: the json_test cases plus
// hostile shapes (escaped and long keys sharing a prefix, objects past the map
// threshold, nesting limits, errors after registered claims).
func jsonDiffSeeds() []string {
	seeds := []string{
		`{}`, ` {"a" : [1, -2.5e+3, true, false, null, "x\u00e9\n"] } `, `{"a":1,"a":2}`,
		`{"a":1,"\u0061":2}`, `{"a\"":1,"a\u0022":2}`, `{"a":1,"b":2,"c":{"x":1,"x":1}}`,
		`[]`, ``, `{"a":1}}`, `{"a":"unterminated}`, "{\"a\":\"\xff\xfe\"}", "{\"a\":\"tab\there\"}",
		`{"a":"0123456789\"0123456789"}`, `{"a":"01234567\\"}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`,
		`{"a":tru}`, `{a:1}`, `{"a":1,}`, `{"a":[1,]}`, `{"a":nul}`, `{"a":fals}`, `{"a":-01}`,
		`{"abcdefgh":1,"abcdefgi":2,"abcdefgh":3}`, `{"abcdefg":1,"abcdefgh":2}`,
		`{"abcdefghij":1,"abcdefgh\u0069j":2}`, `{"\u0069ss":"x","iss":"y"}`, `{"\u0069ss":5}`,
		`{"iss":"a\u00e9","sub":"\ud800","azp":"","typ":"Bearer","aud":"x"}`,
		`{"iss":1}`, `{"exp":"1"}`, `{"exp":1.5,"nbf":-1}`, `{"exp":1e3,"iat":253402300800}`,
		`{"aud":["a","b","c"]}`, `{"aud":["a\u0062"]}`, `{"aud":["a",1]}`, `{"aud":{}}`, `{"aud":[]}`,
		`{"iss":1,"a":}`, `{"iss":"x" "a":1}`, `{"exp":1,"exp":2}`, `{"x":{"iss":1}}`,
		`{"alg":"RS256","kid":"k","typ":"JWT"}`, `{"alg":"RS256","crit":["x"]}`, `{"alg":"RS256","b64":false}`,
		`{"alg":"RS256","b64":true}`, `{"alg":"RS256","zip":"DEF"}`, `{"alg":5}`, `{"kid":"x"}`,
		`{"alg":"RS256","crit":["x"],"alg":"x"}`, `{"crit":1,x}`, `{"alg":"a"} x`, `{"alg":"a"}   `,
		"{\"alg\":\"\\u00e9\"}\n", `{"cri\u0074":[]}`, `{"a":[{"a":1,"a":2}]}`, `{"a":[{}],"b":[[]]}`,
		`{"a":{"b":{"a":1,"b":2}},"b":1}`, `{"` + strings.Repeat("k", 300) + `":1}`,
	}
	big := func(n int, dup string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, `"k%d":{"x":%d},`, i, i)
		}
		b.WriteString(dup)
		b.WriteString(`"end":1}`)
		return b.String()
	}
	seeds = append(seeds, big(31, ""), big(33, ""), big(40, `"k3":1,`), big(40, `"k39":1,`),
		big(32, `"k\u0031":1,`), `{"o":`+big(50, `"k7":1,`)+`}`, `{"o":[`+big(50, "")+`,`+big(50, "")+`]}`,
		`{"a":`+strings.Repeat(`{"x":`, 30)+`1`+strings.Repeat(`}`, 30)+`}`,
		`{"a":`+strings.Repeat(`[`, 31)+strings.Repeat(`]`, 31)+`}`,
		`{"a":`+strings.Repeat(`[`, 32)+strings.Repeat(`]`, 32)+`}`)
	return seeds
}

// checkJSONDiff compares the single-pass scanner and readers with the reference
// implementation (json_ref_test.go) on data: same errors, same claims and header.
func checkJSONDiff(t *testing.T, data []byte) {
	t.Helper()
	if got, want := checkJSONObject(data), refScanJSONObject(data, nil); got != want {
		t.Fatalf("checkJSONObject(%q) = %v, reference %v", data, got, want)
	}
	c, err := parseClaims(data)
	rc, rerr := refParseClaims(data)
	if fmt.Sprint(err) != fmt.Sprint(rerr) {
		t.Fatalf("parseClaims(%q) error %v, reference %v", data, err, rerr)
	}
	if err == nil && !reflect.DeepEqual(*c, *rc) {
		t.Fatalf("parseClaims(%q) = %+v, reference %+v", data, *c, *rc)
	}
	h, err := parseHeader(data)
	rh, rerr := refParseHeader(data)
	if fmt.Sprint(err) != fmt.Sprint(rerr) || h != rh {
		t.Fatalf("parseHeader(%q) = %+v, %v; reference %+v, %v", data, h, err, rh, rerr)
	}
}

func TestJSONDiff(t *testing.T) {
	g, _, _ := loadGolden(t)
	seeds := jsonDiffSeeds()
	for _, c := range g.Cases {
		parts := strings.Split(c.Token, ".")
		for _, p := range parts[:min(2, len(parts))] {
			if b, err := b64.DecodeString(p); err == nil {
				seeds = append(seeds, string(b))
			}
		}
	}
	for _, s := range seeds {
		checkJSONDiff(t, []byte(s))
		// Every prefix, to reach each error on the way.
		for i := 0; i < len(s) && len(s) < 400; i++ {
			checkJSONDiff(t, []byte(s[:i]))
		}
	}
}

// FuzzJSONDiff runs the differential check on arbitrary input.
func FuzzJSONDiff(f *testing.F) {
	for _, s := range jsonDiffSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJSONDiff(t, data)
	})
}

// TestNonDigit8 checks that the lowest flag of nonDigit8 is the first non-digit byte.
func TestNonDigit8(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, fill := range []byte{'0', '9', 0, 0xff} {
				var b [8]byte
				for i := range b {
					b[i] = "0123456789"[(i*7+c)%10]
				}
				b[pos] = byte(c)
				for i := pos + 1; i < 8; i++ {
					b[i] = fill
				}
				want := 8
				for i, x := range b {
					if x < '0' || x > '9' {
						want = i
						break
					}
				}
				got := 8
				if m := nonDigit8(load64(b[:], 0)); m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("nonDigit8(%q): first non-digit at %d, want %d", b, got, want)
				}
			}
		}
	}
}
