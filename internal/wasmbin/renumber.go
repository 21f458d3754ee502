package wasmbin

import (
	"cmp"
	"fmt"
	"slices"
)

// Renumber rewrites the function indices of a module whose function index space changed:
// in code, constant expressions, exports, the start function, element segments and the
// "name" custom section.
type Renumber struct {
	// Map returns the new index of an old one. It must be defined for every old index,
	// including ones past NumFuncs (the name section may hold such; Names drops them).
	Map func(old uint32) uint32
	// NumFuncs is the size of the old function index space.
	NumFuncs uint32
	// Err is the first out-of-range function index met by Func: after the change such an
	// index could name a valid function, and a rewrite must never turn an invalid module
	// into a valid one.
	Err error
	// CheckConst, if not nil, sees every instruction of a constant expression and may refuse
	// it (the meter refuses global indices past the module's own).
	CheckConst func(Instr) error
}

// Func maps an old function index, recording an out-of-range one in Err.
func (rn *Renumber) Func(i uint32) uint32 {
	if i >= rn.NumFuncs && rn.Err == nil {
		rn.Err = fmt.Errorf("%w: function index %d, the module has %d", ErrUnsupported, i, rn.NumFuncs)
	}
	return rn.Map(i)
}

// CopyInstr appends in to out with its function index, if it has one, renumbered.
func (rn *Renumber) CopyInstr(out []byte, in Instr) []byte {
	if in.HasFuncIndex() {
		return AppendU32(append(out, in.Op), rn.Func(in.Index))
	}
	return append(out, in.Raw...)
}

// ConstExpr copies a constant expression from r through its end, renumbering ref.func.
func (rn *Renumber) ConstExpr(out []byte, r *Reader) []byte {
	for r.Err == nil {
		if r.Done() {
			r.Fail("constant expression without end")
			return out
		}
		if r.B[r.Off] == OpEnd {
			r.Off++
			return append(out, OpEnd)
		}
		in := r.Instr()
		if r.Err == nil && rn.CheckConst != nil {
			r.Err = rn.CheckConst(in)
		}
		if r.Err != nil {
			return out
		}
		out = rn.CopyInstr(out, in)
	}
	return out
}

// GlobalEntries returns the global section's count and its entries with ref.func
// renumbered (without the count, so a caller can append globals).
func (rn *Renumber) GlobalEntries(body []byte) (uint32, []byte, error) {
	r := &Reader{B: body}
	n := r.U32()
	var out []byte
	for i := uint32(0); i < n && r.Err == nil; i++ {
		start := r.Off
		r.ValType()
		r.Byte() // mutability
		out = append(out, r.B[start:r.Off]...)
		out = rn.ConstExpr(out, r)
	}
	if r.Err == nil && !r.Done() {
		return 0, nil, fmt.Errorf("%w: bytes after the global section's entries", ErrUnsupported)
	}
	return n, out, r.Err
}

// Exports rewrites the export section. check, if not nil, sees every export's kind and
// index first and may refuse it.
func (rn *Renumber) Exports(body []byte, check func(kind byte, index uint32) error) ([]byte, error) {
	r := &Reader{B: body}
	n := r.U32()
	out := AppendU32(nil, n)
	for i := uint32(0); i < n && r.Err == nil; i++ {
		out = AppendName(out, r.Name())
		kind := r.Byte()
		idx := r.U32()
		if r.Err != nil {
			break
		}
		if check != nil {
			if err := check(kind, idx); err != nil {
				return nil, err
			}
		}
		if kind == KindFunc {
			idx = rn.Func(idx)
		}
		out = AppendU32(append(out, kind), idx)
	}
	if r.Err == nil && !r.Done() {
		return nil, fmt.Errorf("%w: bytes after the export section's entries", ErrUnsupported)
	}
	return out, r.Err
}

// Start rewrites the start section.
func (rn *Renumber) Start(body []byte) ([]byte, error) {
	r := &Reader{B: body}
	f := r.U32()
	if r.Err == nil && !r.Done() {
		return nil, fmt.Errorf("%w: bytes after the start function", ErrUnsupported)
	}
	return AppendU32(nil, rn.Func(f)), r.Err
}

// Elements rewrites the element section.
func (rn *Renumber) Elements(body []byte) ([]byte, error) {
	r := &Reader{B: body}
	n := r.U32()
	out := AppendU32(nil, n)
	for i := uint32(0); i < n && r.Err == nil; i++ {
		flags := r.U32()
		out = AppendU32(out, flags)
		if flags > 7 {
			return nil, fmt.Errorf("%w: element segment flags %d", ErrUnsupported, flags)
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index (flags 2 and 6)
			out = AppendU32(out, r.U32())
		}
		if flags&1 == 0 { // active: offset expression
			out = rn.ConstExpr(out, r)
		}
		if flags&3 != 0 { // elemkind (flags 1-3) or reftype (flags 5-7)
			if flags&4 == 0 {
				out = append(out, r.Byte())
			} else {
				start := r.Off
				r.RefType()
				out = append(out, r.B[start:r.Off]...)
			}
		}
		count := r.U32()
		out = AppendU32(out, count)
		for j := uint32(0); j < count && r.Err == nil; j++ {
			if flags&4 == 0 {
				out = AppendU32(out, rn.Func(r.U32()))
			} else {
				out = rn.ConstExpr(out, r)
			}
		}
	}
	if r.Err == nil && !r.Done() {
		return nil, fmt.Errorf("%w: bytes after the element section's entries", ErrUnsupported)
	}
	return out, r.Err
}

// Names rewrites a "name" custom section body: function names (subsection 1) and local names
// (2) get the new indices, in increasing order as the format asks; label names (3) are
// dropped when dropLabels is set (they count blocks, and a rewrite that adds blocks makes
// them wrong); other subsections are kept as they are.
func (rn *Renumber) Names(body []byte, dropLabels bool) ([]byte, error) {
	r := &Reader{B: body}
	out := AppendName(nil, r.Name())
	for !r.Done() && r.Err == nil {
		id := r.Byte()
		sub := &Reader{B: r.Bytes(int(r.U32()))}
		if r.Err != nil {
			break
		}
		var nb []byte
		switch {
		case id == 1 || id == 2:
			type entry struct {
				idx  uint32
				rest []byte // a name (1), or a name map of locals (2)
			}
			n := sub.U32()
			var es []entry
			for i := uint32(0); i < n && sub.Err == nil; i++ {
				old := sub.U32()
				idx := rn.Map(old)
				start := sub.Off
				if id == 1 {
					sub.Name()
				} else {
					m := sub.U32()
					for j := uint32(0); j < m && sub.Err == nil; j++ {
						sub.U32()
						sub.Name()
					}
				}
				// Names of indices past the function index space name nothing; after the change
				// they could land on a real function, so they are dropped.
				if sub.Err == nil && old < rn.NumFuncs {
					es = append(es, entry{idx, sub.B[start:sub.Off]})
				}
			}
			slices.SortStableFunc(es, func(a, b entry) int { return cmp.Compare(a.idx, b.idx) })
			nb = AppendU32(nb, uint32(len(es)))
			for _, e := range es {
				nb = append(AppendU32(nb, e.idx), e.rest...)
			}
		case id == 3 && dropLabels:
			continue
		default:
			nb = sub.B
			sub.Off = len(sub.B)
		}
		if sub.Err == nil && !sub.Done() {
			sub.Fail("bytes after a name subsection")
		}
		if sub.Err != nil {
			return nil, sub.Err
		}
		out = AppendSection(out, id, nb)
	}
	return out, r.Err
}
