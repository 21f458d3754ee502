package wasmbin

import (
	"fmt"
	"slices"
)

// Section ids (spec 5.5.2); the tag section (13, exception handling) goes between memory and
// global.
const (
	SecCustom    = 0
	SecType      = 1
	SecImport    = 2
	SecFunction  = 3
	SecTable     = 4
	SecMemory    = 5
	SecGlobal    = 6
	SecExport    = 7
	SecStart     = 8
	SecElement   = 9
	SecCode      = 10
	SecData      = 11
	SecDataCount = 12
	SecTag       = 13
)

// Import and export kinds.
const (
	KindFunc   = 0x00
	KindTable  = 0x01
	KindMemory = 0x02
	KindGlobal = 0x03
	KindTag    = 0x04
)

// Rank orders the known non-custom sections as the binary format requires; it is 0 for
// custom and unknown sections.
func Rank(id byte) int {
	switch id {
	case SecType:
		return 1
	case SecImport:
		return 2
	case SecFunction:
		return 3
	case SecTable:
		return 4
	case SecMemory:
		return 5
	case SecTag:
		return 6
	case SecGlobal:
		return 7
	case SecExport:
		return 8
	case SecStart:
		return 9
	case SecElement:
		return 10
	case SecDataCount:
		return 11
	case SecCode:
		return 12
	case SecData:
		return 13
	}
	return 0
}

// Section is one section of a module, as read.
type Section struct {
	ID   byte
	Name string // custom sections
	Body []byte
}

// FuncType is a function type: parameter and result value types.
type FuncType struct {
	Params, Results []byte
}

// Equal reports whether t and u are the same type.
func (t FuncType) Equal(u FuncType) bool {
	return slices.Equal(t.Params, u.Params) && slices.Equal(t.Results, u.Results)
}

// Import is one entry of the import section.
type Import struct {
	Module, Name string
	Kind         byte
	Type         uint32 // type index of a function import
	Raw          []byte // the whole entry, as encoded
}

// Module is a parsed module: its sections in order, and what the rewrites need to know
// about its index spaces.
type Module struct {
	Sections      []Section
	Types         []FuncType
	Imports       []Import
	FuncImports   uint32   // imported functions: the first indices of the function space
	GlobalImports uint32   // imported globals
	MemoryImports uint32   // imported memories
	Globals       uint32   // defined globals
	Memories      uint32   // defined memories
	FuncTypes     []uint32 // type index of each defined function
}

// NumFuncs is the size of the function index space: imports, then defined functions.
func (m *Module) NumFuncs() uint32 { return m.FuncImports + uint32(len(m.FuncTypes)) }

// Parse splits a binary module into sections and reads its types, imports, function and
// global declarations. It refuses unknown non-custom sections.
func Parse(wasm []byte) (*Module, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a version 1 binary module", ErrUnsupported)
	}
	m := &Module{}
	r := &Reader{B: wasm[8:]}
	lastRank, names := 0, 0
	for !r.Done() {
		id := r.Byte()
		size := r.U32()
		body := r.Bytes(int(size))
		if r.Err != nil {
			return nil, r.Err
		}
		s := Section{ID: id, Body: body}
		if id == SecCustom {
			nr := &Reader{B: body}
			s.Name = nr.Name()
			if nr.Err != nil {
				return nil, nr.Err
			}
			if s.Name == "name" {
				if names++; names > 1 {
					return nil, fmt.Errorf("%w: a second name section", ErrUnsupported)
				}
			}
		} else if Rank(id) == 0 {
			return nil, fmt.Errorf("%w: unknown section %d", ErrUnsupported, id)
		} else {
			// Each known section at most once, in the order the binary format requires: the
			// counts read below (and the index arithmetic of callers) assume it, rather than
			// leave it to the runtime that compiles the result.
			if Rank(id) <= lastRank {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", ErrUnsupported, id)
			}
			lastRank = Rank(id)
		}
		m.Sections = append(m.Sections, s)
	}
	for _, s := range m.Sections {
		var err error
		switch s.ID {
		case SecType:
			err = m.readTypes(s.Body)
		case SecImport:
			err = m.readImports(s.Body)
		case SecGlobal:
			r := &Reader{B: s.Body}
			m.Globals = r.U32()
			err = r.Err
		case SecMemory:
			r := &Reader{B: s.Body}
			m.Memories = r.U32()
			err = r.Err
		case SecFunction:
			r := &Reader{B: s.Body}
			n := r.U32()
			if int(n) > len(s.Body) {
				return nil, fmt.Errorf("%w: function section counts %d functions in %d bytes", ErrUnsupported, n, len(s.Body))
			}
			for i := uint32(0); i < n && r.Err == nil; i++ {
				m.FuncTypes = append(m.FuncTypes, r.U32())
			}
			err = r.Err
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Module) readTypes(b []byte) error {
	r := &Reader{B: b}
	n := r.U32()
	for i := uint32(0); i < n && r.Err == nil; i++ {
		if form := r.Byte(); form != 0x60 {
			return fmt.Errorf("%w: type form 0x%x (GC proposal)", ErrUnsupported, form)
		}
		var t FuncType
		params := r.U32()
		for j := uint32(0); j < params && r.Err == nil; j++ {
			t.Params = append(t.Params, r.ValType())
		}
		results := r.U32()
		for j := uint32(0); j < results && r.Err == nil; j++ {
			t.Results = append(t.Results, r.ValType())
		}
		m.Types = append(m.Types, t)
	}
	if r.Err == nil && !r.Done() {
		return fmt.Errorf("%w: bytes after the type section's entries", ErrUnsupported)
	}
	return r.Err
}

func (m *Module) readImports(b []byte) error {
	r := &Reader{B: b}
	n := r.U32()
	for i := uint32(0); i < n && r.Err == nil; i++ {
		start := r.Off
		im := Import{Module: r.Name(), Name: r.Name(), Kind: r.Byte()}
		switch im.Kind {
		case KindFunc:
			im.Type = r.U32()
			m.FuncImports++
		case KindTable:
			r.RefType()
			r.Limits()
		case KindMemory:
			r.Limits()
			m.MemoryImports++
		case KindGlobal:
			r.ValType()
			r.Byte()
			m.GlobalImports++
		case KindTag:
			r.Byte()
			r.U32()
		default:
			return fmt.Errorf("%w: import kind 0x%x", ErrUnsupported, im.Kind)
		}
		if r.Err == nil {
			im.Raw = r.B[start:r.Off]
			m.Imports = append(m.Imports, im)
		}
	}
	if r.Err == nil && !r.Done() {
		return fmt.Errorf("%w: bytes after the import section's entries", ErrUnsupported)
	}
	return r.Err
}
