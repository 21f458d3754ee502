package host

import "errors"

// Sentinel errors; match them with errors.Is. Each is wrapped with detail.
var (
	// ErrInvalidConfig means a PluginConfig or RuntimeConfig field is wrong;
	// the message names the field.
	ErrInvalidConfig = errors.New("host: invalid configuration")
	// ErrABIVersion means the module exports no supported proxy-wasm ABI marker
	// (proxy_abi_version_0_2_1 or proxy_abi_version_0_2_0).
	ErrABIVersion = errors.New("host: unsupported proxy-wasm ABI version")
	// ErrModule means the module could not be compiled or instantiated, or an
	// export has the wrong signature.
	ErrModule = errors.New("host: bad wasm module")
	// ErrStartFailed means proxy_on_vm_start or proxy_on_configure returned false
	// (the plugin rejected its configuration) or trapped.
	ErrStartFailed = errors.New("host: plugin start failed")
	// ErrClosed is returned when the Runtime or Plugin is already closed.
	ErrClosed = errors.New("host: closed")
)
