package host

import (
	"context"
	"errors"
	"time"

	"github.com/gatewarden/gatewarden/host/meter"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// errCallbackOverrun unwinds a guest that ran past its deadline out of the meter's tick.
var errCallbackOverrun = errors.New("callback exceeded its time limit")

// registerMeter instantiates the host module a metered guest imports (see host/meter): its
// tick runs every meter.Interval function entries and loop iterations of the guest.
func registerMeter(ctx context.Context, r wazero.Runtime) error {
	_, err := r.NewHostModuleBuilder(meter.Module).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, _ []uint64) {
			if v := vmFrom(ctx); v != nil {
				v.meterTick()
			}
		}), nil, nil).
		Export(meter.Tick).
		Instantiate(ctx)
	return err
}

// meterTick stops the running callback once it is past its deadline. Being a call into Go, it
// also lets the Go scheduler preempt the goroutine and the garbage collector stop the world,
// which they cannot do while compiled guest code runs.
func (v *vm) meterTick() {
	if v.deadline != 0 && time.Now().UnixNano() > v.deadline {
		v.overran = true
		panic(errCallbackOverrun)
	}
}
