package host

import "sync"

// sharedData is the key-value store shared by all VMs of a vm_id, with
// compare-and-swap tokens as proxy-wasm-cpp-host (shared_data.cc) keeps them:
// every successful set stores the next non-zero token; cas 0 sets
// unconditionally, otherwise it must match the stored token.
type sharedData struct {
	mu    sync.RWMutex
	m     map[string]sharedEntry
	cas   uint32
	bytes int // keys + values stored
}

type sharedEntry struct {
	val []byte // never mutated after it is stored
	cas uint32
}

// maxSharedKeys and maxSharedBytes bound the store so a filter cannot grow
// host memory without limit through it.
const (
	maxSharedKeys  = 1 << 16
	maxSharedBytes = 64 << 20
)

func (d *sharedData) get(key []byte) (sharedEntry, bool) {
	d.mu.RLock()
	e, ok := d.m[string(key)]
	d.mu.RUnlock()
	return e, ok
}

func (d *sharedData) set(key []byte, val []byte, cas uint32) status {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[string(key)]
	if ok && cas != 0 && cas != e.cas {
		return statusCASMismatch
	}
	if !ok && len(d.m) >= maxSharedKeys {
		return statusInternalFailure
	}
	grow := len(val) - len(e.val)
	if !ok {
		grow += len(key)
	}
	if d.bytes+grow > maxSharedBytes {
		return statusInternalFailure
	}
	d.bytes += grow
	d.cas++
	if d.cas == 0 {
		d.cas = 1
	}
	d.m[string(key)] = sharedEntry{val: val, cas: d.cas}
	return statusOK
}

// queueRegistry holds the shared queues of a Runtime, by (vm_id, name).
type queueRegistry struct {
	mu     sync.Mutex
	byName map[queueKey]*sharedQueue
	byID   map[uint32]*sharedQueue
	next   uint32
	bytes  int // queued bytes over all queues
}

type queueKey struct{ vmID, name string }

// sharedQueue is a FIFO of byte strings; the VM that registered it last gets
// proxy_on_queue_ready on its root context, as in proxy-wasm-cpp-host.
type sharedQueue struct {
	id    uint32
	bytes int
	items [][]byte
	owner *vm
	root  uint32
}

// maxQueueItems and maxQueueBytes bound each queue; maxQueues and
// maxQueuedBytes all queues of a Runtime together, so filters cannot grow
// host memory without limit through queues.
const (
	maxQueueItems  = 1 << 14
	maxQueueBytes  = 16 << 20
	maxQueues      = 1024
	maxQueuedBytes = 64 << 20
)

func (q *queueRegistry) init() {
	q.byName = make(map[queueKey]*sharedQueue)
	q.byID = make(map[uint32]*sharedQueue)
}

func (q *queueRegistry) register(vmID, name string, owner *vm, root uint32) (uint32, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := queueKey{vmID, name}
	sq := q.byName[k]
	if sq == nil {
		if len(q.byID) >= maxQueues {
			return 0, false
		}
		q.next++
		sq = &sharedQueue{id: q.next}
		q.byName[k] = sq
		q.byID[sq.id] = sq
	}
	sq.owner, sq.root = owner, root
	return sq.id, true
}

func (q *queueRegistry) resolve(vmID, name string) (uint32, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.byName[queueKey{vmID, name}]
	if sq == nil {
		return 0, false
	}
	return sq.id, true
}

func (q *queueRegistry) enqueue(id uint32, item []byte) status {
	q.mu.Lock()
	sq := q.byID[id]
	if sq == nil {
		q.mu.Unlock()
		return statusNotFound
	}
	if len(sq.items) >= maxQueueItems || sq.bytes+len(item) > maxQueueBytes || q.bytes+len(item) > maxQueuedBytes {
		q.mu.Unlock()
		return statusInternalFailure
	}
	sq.items = append(sq.items, item)
	sq.bytes += len(item)
	q.bytes += len(item)
	owner, root := sq.owner, sq.root
	q.mu.Unlock()
	if owner != nil {
		owner.postAsync(task{kind: taskQueueReady, id: id, root: root})
	}
	return statusOK
}

func (q *queueRegistry) dequeue(id uint32) ([]byte, status) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.byID[id]
	if sq == nil {
		return nil, statusNotFound
	}
	if len(sq.items) == 0 {
		return nil, statusEmpty
	}
	it := sq.items[0]
	sq.bytes -= len(it)
	q.bytes -= len(it)
	sq.items[0] = nil
	sq.items = sq.items[1:]
	return it, statusOK
}

// dropOwner forgets a VM that is gone so no task is posted to it.
func (q *queueRegistry) dropOwner(v *vm) {
	q.mu.Lock()
	for _, sq := range q.byID {
		if sq.owner == v {
			sq.owner = nil
		}
	}
	q.mu.Unlock()
}
