package oci

import "errors"

// Sentinel errors. Every error returned by Push and Pull wraps one of these (or a context
// error), so callers match with errors.Is and map them to exit codes or start-up failures.
var (
	// ErrInvalidReference: the image reference does not parse, or a push target has no tag.
	ErrInvalidReference = errors.New("oci: invalid image reference")
	// ErrInvalidOptions: a PushOptions or PullOptions field holds a value we do not accept.
	ErrInvalidOptions = errors.New("oci: invalid options")
	// ErrNotWasm: the bytes are not a WebAssembly binary module (magic or version wrong).
	ErrNotWasm = errors.New("oci: not a WebAssembly module")
	// ErrTooLarge: the module, a layer or the manifest exceeds the configured size limit.
	ErrTooLarge = errors.New("oci: too large")
	// ErrUnsupportedFormat: the image is none of the Wasm image formats Istio accepts.
	ErrUnsupportedFormat = errors.New("oci: unsupported image format")
	// ErrDigestMismatch: a manifest or blob does not hash to the digest that names it.
	ErrDigestMismatch = errors.New("oci: content does not match its digest")
	// ErrSHA256Mismatch: the pulled module does not match the SHA256 pin.
	ErrSHA256Mismatch = errors.New("oci: wasm sha256 does not match the pin")
	// ErrPlainHTTP: the registry needs plain HTTP but is not on loopback and Insecure is off.
	ErrPlainHTTP = errors.New("oci: plain HTTP refused")
	// ErrRegistry: the registry could not be reached or answered with an error.
	ErrRegistry = errors.New("oci: registry request failed")
)
