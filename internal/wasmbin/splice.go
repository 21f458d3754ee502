package wasmbin

import (
	"fmt"
	"slices"
)

// Splice returns target with its function imports from module importModule replaced by the
// functions that kernels (a module of its own) exports under the same names: the kernels'
// bodies become defined functions of the result, appended after the target's own, and every
// function index is renumbered for the removed imports.
//
// Go's wasm backend can only call such code through an import (//go:wasmimport); Splice puts
// it inside the module, so the host needs nothing and the call is an ordinary call.
//
// It fails, and never returns a half-spliced module, when: an import of importModule has no
// kernel, another kind than function, or a type other than the kernel's; a name in required
// is not imported; the target has other than one memory (kernels address memory 0); a kernel
// body uses anything but locals, memory 0, numeric and control instructions (no calls,
// globals or tables: it must not be able to reach anything of the target but its memory);
// or a section is not understood. Custom sections other than "name", "producers",
// "target_features" and Go's "go:buildid" (dropped) are refused too, as they may hold function
// indices.
func Splice(target, kernels []byte, importModule string, required []string) ([]byte, error) {
	ks, err := kernelBodies(kernels)
	if err != nil {
		return nil, fmt.Errorf("kernel module: %w", err)
	}
	m, err := Parse(target)
	if err != nil {
		return nil, err
	}
	if m.Memories+m.MemoryImports != 1 {
		return nil, fmt.Errorf("%w: the target has %d memories, kernels need exactly one", ErrUnsupported, m.Memories+m.MemoryImports)
	}

	// Which imports go, and where their kernels land: after the target's defined functions,
	// one per kernel name (Go may import one name more than once).
	var (
		kept     []Import
		removed  = map[uint32]uint32{} // old import index -> new function index
		spliced  []string              // kernel names in their new index order
		newIndex = map[string]uint32{}
		shift    = make([]uint32, m.FuncImports+1) // removed imports before each old index
		fi       uint32
	)
	numDefined := uint32(len(m.FuncTypes))
	var splicedTypes []uint32
	for _, im := range m.Imports {
		if im.Module != importModule {
			kept = append(kept, im)
			if im.Kind == KindFunc {
				shift[fi+1] = shift[fi]
				fi++
			}
			continue
		}
		if im.Kind != KindFunc {
			return nil, fmt.Errorf("%w: import %s.%s is not a function", ErrUnsupported, im.Module, im.Name)
		}
		k, ok := ks[im.Name]
		if !ok {
			return nil, fmt.Errorf("%w: import %s.%s has no kernel", ErrUnsupported, im.Module, im.Name)
		}
		if int(im.Type) >= len(m.Types) || !m.Types[im.Type].Equal(k.typ) {
			return nil, fmt.Errorf("%w: import %s.%s has another type than its kernel", ErrUnsupported, im.Module, im.Name)
		}
		shift[fi+1] = shift[fi] + 1
		fi++
		if _, ok := newIndex[im.Name]; !ok {
			newIndex[im.Name] = uint32(len(spliced))
			spliced = append(spliced, im.Name)
			splicedTypes = append(splicedTypes, im.Type)
		}
		removed[fi-1] = newIndex[im.Name]
	}
	for _, name := range required {
		if _, ok := newIndex[name]; !ok {
			return nil, fmt.Errorf("%w: the target does not import %s.%s (built without it?)", ErrUnsupported, importModule, name)
		}
	}
	nRemoved := shift[m.FuncImports]
	keptImports := m.FuncImports - nRemoved
	rn := &Renumber{
		NumFuncs: m.NumFuncs(),
		Map: func(i uint32) uint32 {
			if i < m.FuncImports {
				if k, ok := removed[i]; ok {
					return keptImports + numDefined + k
				}
				return i - shift[i]
			}
			return i - nRemoved
		},
	}

	out := []byte("\x00asm\x01\x00\x00\x00")
	sawFunc, sawCode := false, false
	for _, s := range m.Sections {
		var body []byte
		var err error
		switch s.ID {
		case SecCustom:
			switch s.Name {
			case "name":
				// Label names (subsection 3) are dropped as the meter drops them: Go emits none.
				body, err = rn.Names(s.Body, true)
			case "producers", "target_features":
				body = s.Body
			case "go:buildid":
				// Dropped: the result is not what Go's linker wrote, and with the old build
				// ID in place `go build -o` / `go test -c -o` would take a module spliced in
				// place for its own up-to-date output and not link it again.
				continue
			default:
				err = fmt.Errorf("%w: custom section %q", ErrUnsupported, s.Name)
			}
		case SecImport:
			body = AppendU32(nil, uint32(len(kept)))
			for _, im := range kept {
				body = append(body, im.Raw...)
			}
		case SecFunction:
			sawFunc = true
			body = AppendU32(nil, numDefined+uint32(len(spliced)))
			for _, t := range m.FuncTypes {
				body = AppendU32(body, t)
			}
			for _, t := range splicedTypes {
				body = AppendU32(body, t)
			}
		case SecGlobal:
			var n uint32
			var entries []byte
			n, entries, err = rn.GlobalEntries(s.Body)
			body = append(AppendU32(nil, n), entries...)
		case SecExport:
			body, err = rn.Exports(s.Body, nil)
		case SecStart:
			body, err = rn.Start(s.Body)
		case SecElement:
			body, err = rn.Elements(s.Body)
		case SecCode:
			sawCode = true
			body, err = spliceCode(rn, s.Body, numDefined, uint32(len(spliced)))
			for _, name := range spliced {
				body = append(body, ks[name].body...)
			}
		default:
			body = s.Body
		}
		if err != nil {
			return nil, err
		}
		out = AppendSection(out, s.ID, body)
	}
	if len(spliced) > 0 && (!sawFunc || !sawCode) {
		return nil, fmt.Errorf("%w: the target has no function or code section", ErrUnsupported)
	}
	if rn.Err != nil {
		return nil, rn.Err
	}
	// Belt and braces: the result must parse and must not import from importModule.
	check, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("spliced module: %w", err)
	}
	for _, im := range check.Imports {
		if im.Module == importModule {
			return nil, fmt.Errorf("%w: spliced module still imports %s.%s", ErrUnsupported, im.Module, im.Name)
		}
	}
	return out, nil
}

// spliceCode copies the code section with function indices renumbered; its count includes
// the extra kernel bodies the caller appends.
func spliceCode(rn *Renumber, body []byte, numDefined, extra uint32) ([]byte, error) {
	r := &Reader{B: body}
	n := r.U32()
	if r.Err == nil && n != numDefined {
		return nil, fmt.Errorf("%w: %d function bodies for %d declared functions", ErrUnsupported, n, numDefined)
	}
	out := AppendU32(make([]byte, 0, len(body)+1024), n+extra)
	var fb []byte
	for i := uint32(0); i < n && r.Err == nil; i++ {
		fr := &Reader{B: r.Bytes(int(r.U32()))}
		if r.Err != nil {
			break
		}
		fb = fb[:0]
		groups := fr.U32()
		fb = AppendU32(fb, groups)
		for g := uint32(0); g < groups && fr.Err == nil; g++ {
			fb = AppendU32(fb, fr.U32())
			fb = append(fb, fr.ValType())
		}
		for !fr.Done() && fr.Err == nil {
			in := fr.Instr()
			if fr.Err == nil {
				fb = rn.CopyInstr(fb, in)
			}
		}
		if fr.Err != nil {
			return nil, fmt.Errorf("function %d: %w", i, fr.Err)
		}
		out = append(AppendU32(out, uint32(len(fb))), fb...)
	}
	if r.Err == nil && !r.Done() {
		return nil, fmt.Errorf("%w: bytes after the code section's entries", ErrUnsupported)
	}
	return out, r.Err
}

// kernel is one function of the kernel module.
type kernel struct {
	typ  FuncType
	body []byte // code section entry: size, locals, instructions
}

// kernelBodies reads the exported functions of the kernel module and checks their bodies.
func kernelBodies(wasm []byte) (map[string]kernel, error) {
	m, err := Parse(wasm)
	if err != nil {
		return nil, err
	}
	if m.FuncImports != 0 {
		return nil, fmt.Errorf("%w: kernels must not import functions", ErrUnsupported)
	}
	var bodies [][]byte
	names := map[uint32]string{}
	for _, s := range m.Sections {
		switch s.ID {
		case SecCode:
			r := &Reader{B: s.Body}
			n := r.U32()
			for i := uint32(0); i < n && r.Err == nil; i++ {
				start := r.Off
				size := r.U32()
				r.Bytes(int(size))
				bodies = append(bodies, r.B[start:r.Off])
			}
			if r.Err != nil {
				return nil, r.Err
			}
		case SecExport:
			r := &Reader{B: s.Body}
			n := r.U32()
			for i := uint32(0); i < n && r.Err == nil; i++ {
				name, kind, idx := r.Name(), r.Byte(), r.U32()
				if kind == KindFunc {
					names[idx] = name
				}
			}
			if r.Err != nil {
				return nil, r.Err
			}
		}
	}
	if len(bodies) != len(m.FuncTypes) {
		return nil, fmt.Errorf("%w: %d bodies for %d functions", ErrUnsupported, len(bodies), len(m.FuncTypes))
	}
	ks := map[string]kernel{}
	for idx, name := range names {
		if int(idx) >= len(bodies) || int(m.FuncTypes[idx]) >= len(m.Types) {
			return nil, fmt.Errorf("%w: export %q of function %d", ErrUnsupported, name, idx)
		}
		if err := checkKernel(bodies[idx]); err != nil {
			return nil, fmt.Errorf("kernel %q: %w", name, err)
		}
		ks[name] = kernel{typ: m.Types[m.FuncTypes[idx]], body: bodies[idx]}
	}
	return ks, nil
}

// checkKernel refuses a kernel body that could reach beyond its locals and memory 0.
func checkKernel(entry []byte) error {
	r := &Reader{B: entry}
	r.Bytes(int(r.U32()))
	if r.Err != nil || !r.Done() {
		return fmt.Errorf("%w: malformed body", ErrUnsupported)
	}
	r = &Reader{B: entry}
	r.U32()
	groups := r.U32()
	for g := uint32(0); g < groups && r.Err == nil; g++ {
		r.U32()
		if t := r.ValType(); t == 0x70 || t == 0x6F {
			r.Fail("reference-typed local")
		}
	}
	for !r.Done() && r.Err == nil {
		in := r.Instr()
		if r.Err != nil {
			break
		}
		if !kernelInstr(in) {
			return fmt.Errorf("%w: instruction % x not allowed in a kernel", ErrUnsupported, in.Raw)
		}
	}
	return r.Err
}

// kernelInstr is the allow-list of kernel instructions.
func kernelInstr(in Instr) bool {
	op := in.Op
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if: empty or value block type
		return len(in.Raw) == 2 && (in.Raw[1] == 0x40 || slices.Contains([]byte{0x7F, 0x7E, 0x7D, 0x7C, 0x7B}, in.Raw[1]))
	case op <= 0x01, op == 0x05, op == OpEnd, op == 0x0C, op == 0x0D, op == 0x0E, op == 0x0F,
		op == 0x1A, op == 0x1B: // unreachable, nop, else, end, br, br_if, br_table, return, drop, select
		return true
	case in.IsLocal():
		return true
	case op >= opLoadStoreFirst && op <= opLoadStoreLast, op == OpPrefixSIMD:
		return in.Memory == 0
	case op >= 0x41 && op <= 0xC4: // constants and numeric instructions
		return true
	}
	return false
}
