package wasmbin

import "fmt"

// Opcodes whose immediates the rewrites look at.
const (
	OpLoop           = 0x03
	OpEnd            = 0x0B
	OpCall           = 0x10
	OpReturnCall     = 0x12
	OpRefFunc        = 0xD2
	OpLocalGet       = 0x20
	OpLocalTee       = 0x22
	OpGlobalGet      = 0x23
	OpGlobalSet      = 0x24
	OpPrefixFC       = 0xFC
	OpPrefixSIMD     = 0xFD
	OpPrefixAtomic   = 0xFE
	opCallIndirect   = 0x11
	opReturnCallInd  = 0x13
	opMemorySize     = 0x3F
	opMemoryGrow     = 0x40
	opLoadStoreFirst = 0x28
	opLoadStoreLast  = 0x3E
)

// Instr is one decoded instruction. Raw is its encoding; Index is its function, local or
// global index where it has one (see HasFuncIndex, IsLocal, IsGlobal).
type Instr struct {
	Op     byte
	Sub    uint32 // sub-opcode after a 0xFC, 0xFD or 0xFE prefix
	Index  uint32
	Memory uint32 // memory index of a load, store or memory instruction (multi-memory)
	Mem    bool   // the instruction reads or writes linear memory, or asks its size
	Bulk   bool   // a bulk memory or table instruction whose work grows with its length operand
	Raw    []byte
}

// HasFuncIndex reports call, return_call and ref.func, whose Index is a function index.
func (in Instr) HasFuncIndex() bool {
	return in.Op == OpCall || in.Op == OpReturnCall || in.Op == OpRefFunc
}

// IsLocal reports local.get, local.set and local.tee.
func (in Instr) IsLocal() bool { return in.Op >= OpLocalGet && in.Op <= OpLocalTee }

// IsGlobal reports global.get and global.set.
func (in Instr) IsGlobal() bool { return in.Op == OpGlobalGet || in.Op == OpGlobalSet }

// Instr decodes the instruction at the reader's offset. Proposals it does not know (GC,
// typed function references, ...) fail with ErrUnsupported.
func (r *Reader) Instr() Instr {
	start := r.Off
	in := Instr{Op: r.Byte()}
	op := in.Op
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06: // block, loop, if, try
		r.BlockType()
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0A || op == 0x0B || op == 0x0F ||
		op == 0x19 || op == 0x1A || op == 0x1B || op == 0xD1:
		// unreachable, nop, else, throw_ref, end, return, catch_all, drop, select, ref.is_null
	case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0C || op == 0x0D || op == 0x18:
		// catch, throw (tag); rethrow, br, br_if, delegate (label)
		r.U32()
	case op == 0x0E: // br_table
		n := r.U32()
		for i := uint32(0); i <= n && r.Err == nil; i++ {
			r.U32()
		}
	case in.HasFuncIndex(), in.IsLocal(), in.IsGlobal():
		in.Index = r.U32()
	case op == opCallIndirect || op == opReturnCallInd:
		r.U32()
		r.U32()
	case op == 0x1C: // select with types
		n := r.U32()
		for i := uint32(0); i < n && r.Err == nil; i++ {
			r.ValType()
		}
	case op == 0x1F: // try_table
		r.BlockType()
		n := r.U32()
		for i := uint32(0); i < n && r.Err == nil; i++ {
			switch kind := r.Byte(); kind {
			case 0x00, 0x01:
				r.U32()
				r.U32()
			case 0x02, 0x03:
				r.U32()
			default:
				r.Fail(fmt.Sprintf("try_table catch kind 0x%x", kind))
			}
		}
	case op == 0x25 || op == 0x26: // table.get/set
		r.U32()
	case op >= opLoadStoreFirst && op <= opLoadStoreLast: // loads and stores
		in.Mem = true
		in.Memory = r.MemArg()
	case op == opMemorySize || op == opMemoryGrow:
		in.Mem = true
		in.Memory = r.U32()
	case op == 0x41 || op == 0x42: // i32.const, i64.const
		r.SkipSLEB()
	case op == 0x43:
		r.Bytes(4)
	case op == 0x44:
		r.Bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, no immediates
	case op == 0xD0: // ref.null
		r.RefType()
	case op == OpPrefixFC:
		r.prefixFC(&in)
	case op == OpPrefixSIMD:
		r.prefixFD(&in)
	case op == OpPrefixAtomic:
		in.Sub = r.U32()
		if in.Sub == 0x03 { // atomic.fence
			r.Byte()
		} else if in.Sub <= 0x4E {
			in.Mem = true
			in.Memory = r.MemArg()
		} else {
			r.Fail(fmt.Sprintf("atomic instruction 0xFE %d", in.Sub))
		}
	default:
		r.Fail(fmt.Sprintf("opcode 0x%02x", op))
	}
	if r.Err == nil {
		in.Raw = r.B[start:r.Off]
	}
	return in
}

// prefixFC reads a 0xFC instruction's immediates.
func (r *Reader) prefixFC(in *Instr) {
	in.Sub = r.U32()
	switch sub := in.Sub; {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init
		r.U32()
		in.Memory = r.U32()
		in.Mem, in.Bulk = true, true
	case sub == 9: // data.drop
		r.U32()
	case sub == 13, sub == 15, sub == 16: // elem.drop, table.grow, table.size
		r.U32()
	case sub == 11: // memory.fill
		in.Memory = r.U32()
		in.Mem, in.Bulk = true, true
	case sub == 17: // table.fill
		r.U32()
		in.Bulk = true
	case sub == 10: // memory.copy
		in.Memory = r.U32()
		if m := r.U32(); m != 0 {
			in.Memory = m
		}
		in.Mem, in.Bulk = true, true
	case sub == 12, sub == 14: // table.init, table.copy
		r.U32()
		r.U32()
		in.Bulk = true
	default:
		r.Fail(fmt.Sprintf("instruction 0xFC %d", sub))
	}
}

// prefixFD reads a SIMD instruction's immediates (fixed-width SIMD and relaxed SIMD).
func (r *Reader) prefixFD(in *Instr) {
	in.Sub = r.U32()
	switch sub := in.Sub; {
	case sub <= 11, sub == 92, sub == 93: // loads, store, load zero
		in.Mem = true
		in.Memory = r.MemArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.Bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.Byte()
	case sub >= 84 && sub <= 91: // load/store lane
		in.Mem = true
		in.Memory = r.MemArg()
		r.Byte()
	case sub <= 0x113: // numeric (relaxed SIMD included), no immediates
	default:
		r.Fail(fmt.Sprintf("instruction 0xFD %d", sub))
	}
}
