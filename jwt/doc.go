// Package jwt verifies JSON Web Tokens (JWS compact serialization, RFC 7515/7519)
// against a JSON Web Key Set. It is pure Go (stdlib plus gjson), has no proxy-wasm
// dependencies and is compiled into the wasm filter, so the verify path avoids
// reflection-based JSON and keeps allocations low.
//
// Safety by construction: the Verifier takes an algorithm allow-list up front and
// never accepts "none"; keys come only from a KeySet (never from the token's jwk,
// jku, x5u or x5c), are chosen by kid and kty/alg agreement, and HMAC keys exist
// only through NewHMACKeySet. The clock and leeway are passed in. Every error wraps
// one of the sentinels in errors.go; Reason maps it to a stable string.
//
// Speed inside wasm: Go's big-number code is slow there (64-bit limbs need an emulated
// 64x64->128 multiply), so under GOARCH=wasm RSA (fast_rsa.go) and P-256 (fast_p256.go)
// signatures are checked by 32-bit-limb code with per-key precomputation, differentially
// tested and fuzzed against crypto/rsa and crypto/ecdsa. Numbers: docs/BENCHMARKS.md.
//
// The filter goes one step further (fast_kern*.go): built with GOARCH=wasm and the tag
// gatewarden_fast, the RSA-2048 Montgomery products, SHA-256's compression function and
// base64url decoding (SIMD) call hand-written wasm (internal/wasmkern) through //go:wasmimport stubs, and cmd/wasmsplice
// replaces those imports with the kernels' bodies in the built module. Go's wasm backend
// emits no SIMD and no wide multiply and keeps few values in registers; the kernels keep
// everything in wasm locals and run the RSA operation in about 60% of the Go code's time.
// An unspliced build does not instantiate (no host provides the imports), and every other
// build runs the Go code, which the wasm tests also check.
package jwt

//go:generate go run ./testdata/gen.go
