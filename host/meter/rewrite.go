package meter

import "fmt"

// rewriter renumbers functions (the tick import shifts every defined function up by one) and
// inserts the budget checks into code.
type rewriter struct {
	tickFunc   uint32 // index of the tick import
	firstFunc  uint32 // old index of the first defined function
	budget     uint32 // index of the budget global
	tickTypeID uint32
	types      [][2]int // params, results per type
	funcTypes  []uint32 // type of each defined function
	counter    uint32   // index of the loop-counter local of the function being rewritten
	scratch    uint32   // index of the scratch local (bulk-operation lengths), counter+1
	numFuncs   uint32   // functions of the original module, imports included
	badIndex   error    // first out-of-range function index met by fn
}

// fn maps an old function index to the new one. An index the original module does not
// have would become a valid reference after the shift (the tick import takes a slot), so it is
// recorded as an error: the rewrite must never turn an invalid module into a valid one.
func (rw *rewriter) fn(i uint32) uint32 {
	if i >= rw.numFuncs && rw.badIndex == nil {
		rw.badIndex = fmt.Errorf("%w: function index %d, the module has %d", ErrUnsupported, i, rw.numFuncs)
	}
	return rw.renumber(i)
}

// renumber maps an old function index to the new one, unchecked (name section).
func (rw *rewriter) renumber(i uint32) uint32 {
	if i >= rw.firstFunc {
		return i + 1
	}
	return i
}

// loopBatch is how many iterations of one loop a function invocation runs between two charges
// of the budget: loop headers only count in a local (a register), which is much cheaper than the
// global's load and store.
const loopBatch = 256

// charge is the inserted budget update: budget -= units; once it is used up, refill it and call
// the tick function.
func (rw *rewriter) charge(b []byte, units int64) []byte {
	b = append(b, 0x23) // global.get
	b = appendU32(b, rw.budget)
	b = append(b, 0x41) // i32.const
	b = appendS64(b, units)
	b = append(b, 0x6B, 0x24) // i32.sub; global.set
	b = appendU32(b, rw.budget)
	return rw.refillIfSpent(b)
}

// refillIfSpent: if budget <= 0 { budget = Interval; call $tick }.
func (rw *rewriter) refillIfSpent(b []byte) []byte {
	b = append(b, 0x23) // global.get
	b = appendU32(b, rw.budget)
	b = append(b, 0x41, 0x00, 0x4C, 0x04, 0x40, 0x41) // i32.const 0; i32.le_s; if (no result); i32.const
	b = appendS64(b, Interval)
	b = append(b, 0x24) // global.set
	b = appendU32(b, rw.budget)
	b = append(b, 0x10) // call
	b = appendU32(b, rw.tickFunc)
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
	b = appendU32(b, counter)
	b = append(b, 0x41, 0x01, 0x6B, 0x22) // i32.const 1; i32.sub; local.tee
	b = appendU32(b, counter)
	b = append(b, 0x41)
	b = appendS64(b, loopBatch-1)
	b = append(b, 0x71, 0x45, 0x04, 0x40) // i32.and; i32.eqz; if (no result)
	b = rw.charge(b, loopBatch)
	return append(b, 0x0B) // end
}

func (rw *rewriter) globals(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n+1)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.off
		r.valType()
		r.byte() // mutability
		out = append(out, r.b[start:r.off]...)
		out = rw.constExpr(out, r)
	}
	if r.err == nil && !r.done() {
		return nil, fmt.Errorf("%w: bytes after the global section's entries", ErrUnsupported)
	}
	if r.err != nil {
		return nil, r.err
	}
	return appendBudgetGlobal(out), nil
}

func (rw *rewriter) exports(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = appendName(out, r.name())
		kind := r.byte()
		idx := r.u32()
		if kind == 0x00 {
			idx = rw.fn(idx)
		}
		if kind == 0x03 && idx >= rw.budget {
			return nil, fmt.Errorf("%w: export of global %d, the module has %d", ErrUnsupported, idx, rw.budget)
		}
		out = append(out, kind)
		out = appendU32(out, idx)
	}
	if r.err == nil && !r.done() {
		return nil, fmt.Errorf("%w: bytes after the export section's entries", ErrUnsupported)
	}
	return out, r.err
}

func (rw *rewriter) elements(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		out = appendU32(out, flags)
		if flags > 7 {
			return nil, fmt.Errorf("%w: element segment flags %d", ErrUnsupported, flags)
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index (flags 2 and 6)
			out = appendU32(out, r.u32())
		}
		if flags&1 == 0 { // active: offset expression
			out = rw.constExpr(out, r)
		}
		if flags&3 != 0 { // elemkind (flags 1-3) or reftype (flags 5-7)
			if flags&4 == 0 {
				out = append(out, r.byte())
			} else {
				start := r.off
				r.refType()
				out = append(out, r.b[start:r.off]...)
			}
		}
		count := r.u32()
		out = appendU32(out, count)
		for j := uint32(0); j < count && r.err == nil; j++ {
			if flags&4 == 0 {
				out = appendU32(out, rw.fn(r.u32()))
			} else {
				out = rw.constExpr(out, r)
			}
		}
	}
	if r.err == nil && !r.done() {
		return nil, fmt.Errorf("%w: bytes after the element section's entries", ErrUnsupported)
	}
	return out, r.err
}

// names renumbers the function indices of a "name" custom section: function names
// (subsection 1), local names (2) and label names (3); other subsections are kept as they are.
func (rw *rewriter) names(body []byte) ([]byte, error) {
	r := &reader{b: body}
	out := appendName(nil, r.name())
	for !r.done() && r.err == nil {
		id := r.byte()
		sub := &reader{b: r.bytes(int(r.u32()))}
		if r.err != nil {
			break
		}
		var nb []byte
		switch id {
		case 1:
			n := sub.u32()
			nb = appendU32(nb, n)
			for i := uint32(0); i < n && sub.err == nil; i++ {
				nb = appendU32(nb, rw.renumber(sub.u32()))
				nb = appendName(nb, sub.name())
			}
		case 3:
			// Label names count block instructions, and the checks add blocks: drop them.
			sub.off = len(sub.b)
			continue
		case 2:
			n := sub.u32()
			nb = appendU32(nb, n)
			for i := uint32(0); i < n && sub.err == nil; i++ {
				nb = appendU32(nb, rw.renumber(sub.u32()))
				m := sub.u32()
				nb = appendU32(nb, m)
				for j := uint32(0); j < m && sub.err == nil; j++ {
					nb = appendU32(nb, sub.u32())
					nb = appendName(nb, sub.name())
				}
			}
		default:
			nb = sub.b
			sub.off = len(sub.b)
		}
		if sub.err == nil && !sub.done() {
			sub.fail("bytes after a name subsection")
		}
		if sub.err != nil {
			return nil, sub.err
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(nb)))
		out = append(out, nb...)
	}
	return out, r.err
}

// constExpr copies a constant expression (through its end), renumbering ref.func.
func (rw *rewriter) constExpr(out []byte, r *reader) []byte {
	for r.err == nil {
		op := r.b[r.off:]
		if len(op) == 0 {
			r.fail("constant expression without end")
			return out
		}
		if op[0] == 0x0B {
			r.off++
			return append(out, 0x0B)
		}
		out = rw.instr(out, r, false)
	}
	return out
}

func (rw *rewriter) code(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	if int(n) != len(rw.funcTypes) {
		return nil, fmt.Errorf("%w: %d function bodies for %d declared functions", ErrUnsupported, n, len(rw.funcTypes))
	}
	out := appendU32(nil, n)
	var fb []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		fr := &reader{b: r.bytes(int(size))}
		if r.err != nil {
			break
		}
		t := rw.funcTypes[i]
		if int(t) >= len(rw.types) {
			return nil, fmt.Errorf("%w: function %d has type %d of %d", ErrUnsupported, i, t, len(rw.types))
		}
		fb = fb[:0]
		groups := fr.u32()
		fb = appendU32(fb, groups+1)
		locals := uint64(rw.types[t][0])
		for g := uint32(0); g < groups && fr.err == nil; g++ {
			c := fr.u32()
			locals += uint64(c)
			fb = appendU32(fb, c)
			start := fr.off
			fr.valType()
			fb = append(fb, fr.b[start:fr.off]...)
		}
		if locals >= 50000 {
			return nil, fmt.Errorf("%w: function %d has %d locals", ErrUnsupported, i, locals)
		}
		fb = append(fb, 0x02, 0x7F) // two more i32 locals: the loop counter and a scratch
		rw.counter, rw.scratch = uint32(locals), uint32(locals)+1
		fb = rw.entryCheck(fb)
		for !fr.done() && fr.err == nil {
			fb = rw.instr(fb, fr, true)
		}
		if fr.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, fr.err)
		}
		out = appendU32(out, uint32(len(fb)))
		out = append(out, fb...)
	}
	if r.err == nil && !r.done() {
		return nil, fmt.Errorf("%w: bytes after the code section's entries", ErrUnsupported)
	}
	return out, r.err
}

// instr copies one instruction from r to out, renumbering function indices and, in code, adding
// a check after every loop header.
func (rw *rewriter) instr(out []byte, r *reader, inCode bool) []byte {
	start := r.off
	op := r.byte()
	copyRest := func() []byte { return append(out, r.b[start:r.off]...) }
	switch {
	case op == 0x02 || op == 0x04 || op == 0x06: // block, if, try
		r.blockType()
	case op == 0x03: // loop
		r.blockType()
		if r.err != nil {
			return out
		}
		out = copyRest()
		if inCode {
			out = rw.loopCheck(out, rw.counter)
		}
		return out
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0A || op == 0x0B || op == 0x0F ||
		op == 0x19 || op == 0x1A || op == 0x1B || op == 0xD1:
		// unreachable, nop, else, throw_ref, end, return, catch_all, drop, select, ref.is_null
	case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0C || op == 0x0D || op == 0x18:
		// catch, throw (tag); rethrow, br, br_if, delegate (label)
		r.u32()
	case op == 0x0E: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x10 || op == 0x12 || op == 0xD2: // call, return_call, ref.func
		f := r.u32()
		if r.err != nil {
			return out
		}
		out = append(out, op)
		return appendU32(out, rw.fn(f))
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // select with types
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType()
		}
	case op == 0x1F: // try_table
		r.blockType()
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch kind := r.byte(); kind {
			case 0x00, 0x01:
				r.u32()
				r.u32()
			case 0x02, 0x03:
				r.u32()
			default:
				r.fail(fmt.Sprintf("try_table catch kind 0x%x", kind))
			}
		}
	case op >= 0x20 && op <= 0x22: // local.get/set/tee
		// The added locals come after the module's own: an index past them would reach ours.
		if i := r.u32(); inCode && r.err == nil && i >= rw.counter {
			r.fail(fmt.Sprintf("local index %d, the function has %d", i, rw.counter))
		}
	case op == 0x23 || op == 0x24: // global.get/set
		if i := r.u32(); r.err == nil && i >= rw.budget {
			r.fail(fmt.Sprintf("global index %d, the module has %d", i, rw.budget))
		}
	case op == 0x25 || op == 0x26: // table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memArg()
	case op == 0x3F || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41 || op == 0x42: // i32.const, i64.const
		r.sleb()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, no immediates
	case op == 0xD0: // ref.null
		r.heapType()
	case op == 0xFC:
		if bulk := rw.prefixFC(r); bulk && inCode && r.err == nil {
			out = rw.bulkCharge(out)
		}
	case op == 0xFD:
		rw.prefixFD(r)
	case op == 0xFE:
		sub := r.u32()
		if sub == 0x03 { // atomic.fence
			r.byte()
		} else if sub <= 0x4E {
			r.memArg()
		} else {
			r.fail(fmt.Sprintf("atomic instruction 0xFE %d", sub))
		}
	default:
		r.fail(fmt.Sprintf("opcode 0x%02x", op))
	}
	if r.err != nil {
		return out
	}
	return copyRest()
}

// prefixFC reads a 0xFC instruction's immediates; bulk reports the ones whose work grows with
// a length operand on top of the stack (memory.init/copy/fill, table.init/copy/fill).
func (rw *rewriter) prefixFC(r *reader) (bulk bool) {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init
		r.u32()
		r.u32()
		return true
	case sub == 9, sub == 13, sub == 15, sub == 16: // data.drop, elem.drop, table.grow, table.size
		r.u32()
	case sub == 11, sub == 17: // memory.fill, table.fill
		r.u32()
		return true
	case sub == 10, sub == 12, sub == 14: // memory.copy, table.init, table.copy
		r.u32()
		r.u32()
		return true
	default:
		r.fail(fmt.Sprintf("instruction 0xFC %d", sub))
	}
	return false
}

// bulkCharge goes before a bulk memory or table instruction, whose length n is on top of the
// stack: it charges 1 + n/1024 units, so a loop of huge fills or copies still ticks.
//
//	local.tee $s; global.get $b; local.get $s; i32.const 10; i32.shr_u; i32.sub; i32.const 1;
//	i32.sub; global.set $b; <if budget <= 0: refill and tick>
func (rw *rewriter) bulkCharge(b []byte) []byte {
	b = append(b, 0x22) // local.tee
	b = appendU32(b, rw.scratch)
	b = append(b, 0x23) // global.get
	b = appendU32(b, rw.budget)
	b = append(b, 0x20) // local.get
	b = appendU32(b, rw.scratch)
	b = append(b, 0x41, 0x0A, 0x76, 0x6B, 0x41, 0x01, 0x6B, 0x24) // i32.const 10; i32.shr_u; i32.sub; i32.const 1; i32.sub; global.set
	b = appendU32(b, rw.budget)
	return rw.refillIfSpent(b)
}

func (rw *rewriter) prefixFD(r *reader) {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, store, load zero
		r.memArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memArg()
		r.byte()
	case sub <= 0x113: // numeric (relaxed SIMD included), no immediates
	default:
		r.fail(fmt.Sprintf("instruction 0xFD %d", sub))
	}
}
