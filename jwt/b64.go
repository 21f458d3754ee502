package jwt

import "encoding/base64"

var b64 = base64.RawURLEncoding.Strict()

// isB64URL reports whether s uses only the base64url alphabet (no padding, no
// whitespace: the stdlib decoder silently skips CR/LF, which JWS forbids).
func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// decodeB64 strictly decodes unpadded base64url (RFC 7515 section 2).
func decodeB64(s string) ([]byte, bool) {
	if !isB64URL(s) {
		return nil, false
	}
	out := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Decode(out, []byte(s))
	if err != nil {
		return nil, false
	}
	return out[:n], true
}
