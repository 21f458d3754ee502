//go:build wasip1

package abi

// Callbacks of ABI v0.2.1 exported to the host. Each forwards to the VM that the plugin's
// SetNewRootContext call installed. The host must run _initialize first (reactor module).

// vm is created on first use: package init order would otherwise race the plugin's init.
var vm *VM

func theVM() *VM {
	if vm == nil {
		if newRootContext == nil {
			panic("gatewarden: no plugin registered; call abi.SetNewRootContext from init")
		}
		vm = NewVM(wasmHost{}, newRootContext)
	}
	return vm
}

// proxyABIVersion is the marker the host looks for to pick the ABI version; never called.
//
//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion() {}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(contextID, parentID uint32) { theVM().OnContextCreate(contextID, parentID) }

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootID, vmConfigSize uint32) bool {
	return theVM().OnVMStart(rootID, int(vmConfigSize))
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootID, pluginConfigSize uint32) bool {
	return theVM().OnConfigure(rootID, int(pluginConfigSize))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(rootID uint32) { theVM().OnTick(rootID) }

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(rootID, callID, numHeaders, bodySize, numTrailers uint32) {
	theVM().OnHTTPCallResponse(rootID, callID, int(numHeaders), int(bodySize), int(numTrailers))
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(contextID, numHeaders uint32, endOfStream bool) uint32 {
	return uint32(theVM().OnRequestHeaders(contextID, int(numHeaders), endOfStream))
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(contextID uint32) { theVM().OnDelete(contextID) }
