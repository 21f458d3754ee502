// Command filter is Gatewarden's proxy-wasm JWT filter. Build it with the standard Go toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/gatewarden.wasm ./filter
//
// main never runs in a c-shared module: init registers the plugin before the host calls exports.
package main

import "github.com/gatewarden/gatewarden/filter/abi"

func init() { abi.SetNewRootContext(newPlugin) }

func main() {}
