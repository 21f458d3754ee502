package jwt

import (
	"errors"
	"strconv"
)

// Sentinel errors returned (wrapped, with detail) by this package. Match them with
// errors.Is; turn them into a stable reason string with Reason. The mapping to HTTP
// status codes happens at the edge (the filter), not here.
var (
	// ErrMalformed: the token or JWKS is not well-formed JOSE/JSON (bad base64url,
	// wrong segment count, duplicate JSON keys, wrong claim types, ...).
	ErrMalformed = errors.New("jwt: malformed")
	// ErrTooLarge: the token (or one of its parts) exceeds the configured size limit.
	ErrTooLarge = errors.New("jwt: too large")
	// ErrAlgorithm: the alg is not in the allow-list, is "none", or does not fit the key.
	ErrAlgorithm = errors.New("jwt: algorithm not allowed")
	// ErrUnknownKey: no key in the key set matches the token's kid (refetch the JWKS).
	ErrUnknownKey = errors.New("jwt: unknown key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("jwt: invalid signature")
	// ErrExpired: exp is in the past (beyond the clock skew).
	ErrExpired = errors.New("jwt: token expired")
	// ErrNotYetValid: nbf is in the future (beyond the clock skew).
	ErrNotYetValid = errors.New("jwt: token not yet valid")
	// ErrIssuedInFuture: iat is in the future (beyond the clock skew).
	ErrIssuedInFuture = errors.New("jwt: token issued in the future")
	// ErrIssuer: iss is missing or not one of the accepted issuers.
	ErrIssuer = errors.New("jwt: issuer not accepted")
	// ErrAudience: none of the token's audiences is accepted.
	ErrAudience = errors.New("jwt: audience not accepted")
	// ErrTokenType: the token is not an access token (Keycloak typ claim, or header typ).
	ErrTokenType = errors.New("jwt: token type not accepted")
	// ErrLifetime: exp-iat (or exp-now) exceeds the configured maximum lifetime.
	ErrLifetime = errors.New("jwt: token lifetime too long")
	// ErrMissingClaim: a required claim (exp) is absent.
	ErrMissingClaim = errors.New("jwt: required claim missing")
	// ErrCrit: the header has a crit parameter (or b64:false) we do not understand.
	ErrCrit = errors.New("jwt: unsupported critical header")
	// ErrNoUsableKey: a JWKS contains no key this package can use for verification.
	ErrNoUsableKey = errors.New("jwt: no usable key in JWKS")
)

var reasons = []struct {
	err    error
	reason string
}{
	{ErrMalformed, "malformed_token"},
	{ErrTooLarge, "token_too_large"},
	{ErrAlgorithm, "algorithm_not_allowed"},
	{ErrUnknownKey, "unknown_key"},
	{ErrSignature, "invalid_signature"},
	{ErrExpired, "token_expired"},
	{ErrNotYetValid, "token_not_yet_valid"},
	{ErrIssuedInFuture, "token_issued_in_future"},
	{ErrIssuer, "issuer_not_accepted"},
	{ErrAudience, "audience_not_accepted"},
	{ErrTokenType, "token_type_not_accepted"},
	{ErrLifetime, "lifetime_too_long"},
	{ErrMissingClaim, "missing_claim"},
	{ErrCrit, "unsupported_crit"},
	{ErrNoUsableKey, "no_usable_key"},
}

// Reason returns a stable snake_case reason for err, for metrics labels and the
// error_description of a 401. It returns "" for nil and "invalid_token" for errors
// that wrap none of this package's sentinels.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "invalid_token"
}

// detailError wraps a sentinel with detail. It behaves like fmt.Errorf("%w: %s") but
// keeps fmt (and its reflection) out of the wasm guest's verify path.
type detailError struct {
	sentinel error
	detail   string
}

func (e *detailError) Error() string { return e.sentinel.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error { return e.sentinel }

func wrap(sentinel error, detail string) error {
	return &detailError{sentinel: sentinel, detail: detail}
}

// quote quotes an untrusted value for an error message: escaped (no control
// characters reach logs) and cut to 64 bytes (no token-sized error strings).
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
