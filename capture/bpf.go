package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Live capture filters run in the kernel as classic BPF, so that a busy
// link's unwanted traffic never reaches the ring. The program reads
// Ethernet frames as AF_PACKET hands them over (VLAN tags already moved to
// metadata by the kernel).

// packetOutgoing is PACKET_OUTGOING, the packet type of a frame this host
// sends.
const packetOutgoing = 4

// snapAll is the snap length an accepting filter returns: the whole frame.
const snapAll = 1 << 18

// filterProgram accepts IPv4/IPv6 TCP segments from or to one of ports
// (any TCP segment when ports is empty; any frame when also !dropOutgoing),
// dropping the frames this host sends when dropOutgoing is set.
func filterProgram(ports []uint16, dropOutgoing bool) ([]bpf.RawInstruction, error) {
	var a asm
	if dropOutgoing {
		a.add(bpf.LoadExtension{Num: bpf.ExtType}, "", "")
		a.jumpIf(bpf.JumpEqual, packetOutgoing, "reject", "")
	}
	if len(ports) > 0 {
		a.add(bpf.LoadAbsolute{Off: 12, Size: 2}, "", "")
		a.jumpIf(bpf.JumpEqual, etherIPv4, "", "ip6")
		// IPv4: TCP, not a later fragment, then the ports after the
		// variable-length header.
		a.add(bpf.LoadAbsolute{Off: 23, Size: 1}, "", "")
		a.jumpIf(bpf.JumpEqual, 6, "", "reject")
		a.add(bpf.LoadAbsolute{Off: 20, Size: 2}, "", "")
		a.jumpIf(bpf.JumpBitsSet, 0x1fff, "reject", "")
		a.add(bpf.LoadMemShift{Off: 14}, "", "")
		a.add(bpf.LoadIndirect{Off: 14, Size: 2}, "", "")
		a.portChecks(ports)
		a.add(bpf.LoadIndirect{Off: 16, Size: 2}, "", "")
		a.portChecks(ports)
		a.add(bpf.Jump{}, "reject", "")
		// IPv6 without extension headers.
		a.label("ip6")
		a.jumpIf(bpf.JumpEqual, etherIPv6, "", "reject")
		a.add(bpf.LoadAbsolute{Off: 20, Size: 1}, "", "")
		a.jumpIf(bpf.JumpEqual, 6, "", "reject")
		a.add(bpf.LoadAbsolute{Off: 54, Size: 2}, "", "")
		a.portChecks(ports)
		a.add(bpf.LoadAbsolute{Off: 56, Size: 2}, "", "")
		a.portChecks(ports)
		a.add(bpf.Jump{}, "reject", "")
	}
	a.label("accept")
	a.add(bpf.RetConstant{Val: snapAll}, "", "")
	a.label("reject")
	a.add(bpf.RetConstant{Val: 0}, "", "")
	return a.assemble()
}

// asm builds a BPF program with jumps to labels instead of skip counts.
type asm struct {
	ins    []asmIns
	labels map[string]int
}

type asmIns struct {
	ins             bpf.Instruction
	ifTrue, ifFalse string // labels; "" is the next instruction
}

func (a *asm) add(ins bpf.Instruction, ifTrue, ifFalse string) {
	a.ins = append(a.ins, asmIns{ins, ifTrue, ifFalse})
}

func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	a.add(bpf.JumpIf{Cond: cond, Val: val}, ifTrue, ifFalse)
}

// portChecks accepts when the loaded value is one of ports.
func (a *asm) portChecks(ports []uint16) {
	for _, p := range ports {
		a.jumpIf(bpf.JumpEqual, uint32(p), "accept", "")
	}
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	out := make([]bpf.Instruction, len(a.ins))
	for i, in := range a.ins {
		skip := func(label string) (uint8, error) {
			if label == "" {
				return 0, nil
			}
			n := a.labels[label] - i - 1
			if n < 0 || n > 255 {
				return 0, fmt.Errorf("bpf jump to %s out of range (%d)", label, n)
			}
			return uint8(n), nil
		}
		t, err := skip(in.ifTrue)
		if err != nil {
			return nil, err
		}
		f, err := skip(in.ifFalse)
		if err != nil {
			return nil, err
		}
		switch ins := in.ins.(type) {
		case bpf.JumpIf:
			ins.SkipTrue, ins.SkipFalse = t, f
			out[i] = ins
		case bpf.Jump:
			ins.Skip = uint32(t)
			out[i] = ins
		default:
			out[i] = ins
		}
	}
	return bpf.Assemble(out)
}
