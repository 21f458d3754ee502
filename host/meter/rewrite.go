package meter

import (
	"fmt"

	"github.com/gatewarden/gatewarden/internal/wasmbin"
)

// rewriter renumbers functions (the tick import shifts every defined function up by one) and
// inserts the budget checks into code.
type rewriter struct {
	wasmbin.Renumber
	tickFunc   uint32 // index of the tick import
	budget     uint32 // index of the budget global
	tickTypeID uint32
	types      []wasmbin.FuncType
	funcTypes  []uint32 // type of each defined function
	counter    uint32   // index of the loop-counter local of the function being rewritten
	scratch    uint32   // index of the scratch local (bulk-operation lengths), counter+1
}

// loopBatch is how many iterations of one loop a function invocation runs between two charges
// of the budget: loop headers only count in a local (a register), which is much cheaper than the
// global's load and store.
const loopBatch = 256

// charge is the inserted budget update: budget -= units; once it is used up, refill it and call
// the tick function.
func (rw *rewriter) charge(b []byte, units int64) []byte {
	b = append(b, 0x23) // global.get
	b = wasmbin.AppendU32(b, rw.budget)
	b = append(b, 0x41) // i32.const
	b = wasmbin.AppendS64(b, units)
	b = append(b, 0x6B, 0x24) // i32.sub; global.set
	b = wasmbin.AppendU32(b, rw.budget)
	return rw.refillIfSpent(b)
}

// refillIfSpent: if budget <= 0 { budget = Interval; call $tick }.
func (rw *rewriter) refillIfSpent(b []byte) []byte {
	b = append(b, 0x23) // global.get
	b = wasmbin.AppendU32(b, rw.budget)
	b = append(b, 0x41, 0x00, 0x4C, 0x04, 0x40, 0x41) // i32.const 0; i32.le_s; if (no result); i32.const
	b = wasmbin.AppendS64(b, Interval)
	b = append(b, 0x24) // global.set
	b = wasmbin.AppendU32(b, rw.budget)
	b = append(b, 0x10) // call
	b = wasmbin.AppendU32(b, rw.tickFunc)
	return append(b, 0x0B) // end
}

// entryCheck charges one unit at a function entry.
func (rw *rewriter) entryCheck(b []byte) []byte { return rw.charge(b, 1) }

// loopCheck counts a loop iteration in the function's counter local and charges the budget
// every loopBatch iterations:
//
//	local.get $n; i32.const 1; i32.sub; local.tee $n; i32.const 255; i32.and; i32.eqz
//	if <charge 256> end
func (rw *rewriter) loopCheck(b []byte, counter uint32) []byte {
	b = append(b, 0x20) // local.get
	b = wasmbin.AppendU32(b, counter)
	b = append(b, 0x41, 0x01, 0x6B, 0x22) // i32.const 1; i32.sub; local.tee
	b = wasmbin.AppendU32(b, counter)
	b = append(b, 0x41)
	b = wasmbin.AppendS64(b, loopBatch-1)
	b = append(b, 0x71, 0x45, 0x04, 0x40) // i32.and; i32.eqz; if (no result)
	b = rw.charge(b, loopBatch)
	return append(b, 0x0B) // end
}

// globals copies the global section and appends the budget global.
func (rw *rewriter) globals(body []byte) ([]byte, error) {
	n, entries, err := rw.GlobalEntries(body)
	if err != nil {
		return nil, err
	}
	return appendBudgetGlobal(append(wasmbin.AppendU32(nil, n+1), entries...)), nil
}

func (rw *rewriter) code(body []byte) ([]byte, error) {
	r := &wasmbin.Reader{B: body}
	n := r.U32()
	if int(n) != len(rw.funcTypes) {
		return nil, fmt.Errorf("%w: %d function bodies for %d declared functions", ErrUnsupported, n, len(rw.funcTypes))
	}
	out := wasmbin.AppendU32(nil, n)
	var fb []byte
	for i := uint32(0); i < n && r.Err == nil; i++ {
		size := r.U32()
		fr := &wasmbin.Reader{B: r.Bytes(int(size))}
		if r.Err != nil {
			break
		}
		t := rw.funcTypes[i]
		if int(t) >= len(rw.types) {
			return nil, fmt.Errorf("%w: function %d has type %d of %d", ErrUnsupported, i, t, len(rw.types))
		}
		fb = fb[:0]
		groups := fr.U32()
		fb = wasmbin.AppendU32(fb, groups+1)
		locals := uint64(len(rw.types[t].Params))
		for g := uint32(0); g < groups && fr.Err == nil; g++ {
			c := fr.U32()
			locals += uint64(c)
			fb = wasmbin.AppendU32(fb, c)
			fb = append(fb, fr.ValType())
		}
		if locals >= 50000 {
			return nil, fmt.Errorf("%w: function %d has %d locals", ErrUnsupported, i, locals)
		}
		fb = append(fb, 0x02, 0x7F) // two more i32 locals: the loop counter and a scratch
		rw.counter, rw.scratch = uint32(locals), uint32(locals)+1
		fb = rw.entryCheck(fb)
		for !fr.Done() && fr.Err == nil {
			fb = rw.instr(fb, fr)
		}
		if fr.Err != nil {
			return nil, fmt.Errorf("function %d: %w", i, fr.Err)
		}
		out = wasmbin.AppendU32(out, uint32(len(fb)))
		out = append(out, fb...)
	}
	if r.Err == nil && !r.Done() {
		return nil, fmt.Errorf("%w: bytes after the code section's entries", ErrUnsupported)
	}
	return out, r.Err
}

// instr copies one instruction of a function body from r to out, renumbering function indices,
// adding a check after every loop header and a charge before every bulk operation.
func (rw *rewriter) instr(out []byte, r *wasmbin.Reader) []byte {
	in := r.Instr()
	if r.Err != nil {
		return out
	}
	switch {
	case in.Op == wasmbin.OpLoop:
		return rw.loopCheck(append(out, in.Raw...), rw.counter)
	case in.IsLocal() && in.Index >= rw.counter:
		// The added locals come after the module's own: an index past them would reach ours.
		r.Fail(fmt.Sprintf("local index %d, the function has %d", in.Index, rw.counter))
		return out
	case in.IsGlobal() && in.Index >= rw.budget:
		r.Fail(fmt.Sprintf("global index %d, the module has %d", in.Index, rw.budget))
		return out
	case in.Bulk:
		out = rw.bulkCharge(out)
	}
	return rw.CopyInstr(out, in)
}

// bulkCharge goes before a bulk memory or table instruction, whose length n is on top of the
// stack: it charges 1 + n/1024 units, so a loop of huge fills or copies still ticks.
//
//	local.tee $s; global.get $b; local.get $s; i32.const 10; i32.shr_u; i32.sub; i32.const 1;
//	i32.sub; global.set $b; <if budget <= 0: refill and tick>
func (rw *rewriter) bulkCharge(b []byte) []byte {
	b = append(b, 0x22) // local.tee
	b = wasmbin.AppendU32(b, rw.scratch)
	b = append(b, 0x23) // global.get
	b = wasmbin.AppendU32(b, rw.budget)
	b = append(b, 0x20) // local.get
	b = wasmbin.AppendU32(b, rw.scratch)
	b = append(b, 0x41, 0x0A, 0x76, 0x6B, 0x41, 0x01, 0x6B, 0x24) // i32.const 10; i32.shr_u; i32.sub; i32.const 1; i32.sub; global.set
	b = wasmbin.AppendU32(b, rw.budget)
	return rw.refillIfSpent(b)
}
