package abi

// newRootContext is the plugin's root context factory, set once from the plugin's init.
var newRootContext func(contextID uint32, host Host) RootContext

// SetNewRootContext registers the plugin. Call it from an init function of package main: the
// host calls exports right after _initialize, and main never runs in a c-shared module.
func SetNewRootContext(f func(contextID uint32, host Host) RootContext) {
	newRootContext = f
}
