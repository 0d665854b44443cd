package clickhouse

import (
	"container/list"
	"sync"
	"time"
)

// DefaultStateCacheBytes bounds the writer's cache of recent trace states
// (Config.StateCacheBytes).
const DefaultStateCacheBytes = 64 << 20

// stateCacheTTL is how long a cached trace state is trusted: a trace
// written again within it is planned against the cache, without reading
// span_state. Beyond it (or once evicted) the trace is read back, so that
// a trace another weave-server wrote meanwhile is seen (the writer
// assumes one writer per trace at a time; see the README).
const stateCacheTTL = 5 * time.Minute

// stateCache remembers the stored state of the traces the writer wrote
// last: the states of every span of each, exactly as the writer's last
// successful flush left them in span_state. A batch that extends a cached
// trace (a turn whose spans straddle two requests, the root sent last)
// needs no read. It is bounded in bytes, least recently written traces
// out first.
type stateCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // of *cachedTrace, most recent at the front
	m     map[traceKey]*cachedTrace
	now   func() time.Time
}

type cachedTrace struct {
	key    traceKey
	states map[string]*stateRow // span id → state
	size   int64
	at     time.Time
	elem   *list.Element
}

func newStateCache(max int64, now func() time.Time) *stateCache {
	return &stateCache{max: max, order: list.New(), m: map[traceKey]*cachedTrace{}, now: now}
}

// get returns the cached states of a trace (nil, false when it must be
// read). The map is the cache's own: callers do not modify it.
func (c *stateCache) get(k traceKey) (map[string]*stateRow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		return nil, false
	}
	if c.now().Sub(e.at) > stateCacheTTL {
		c.remove(e)
		return nil, false
	}
	return e.states, true
}

// put records the states a successful flush left for a trace.
func (c *stateCache) put(k traceKey, states map[string]*stateRow) {
	if c.max <= 0 {
		return
	}
	size := int64(64)
	for id, r := range states {
		size += r.size() + int64(len(id)) + 16
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		c.remove(e)
	}
	if size > c.max {
		return
	}
	e := &cachedTrace{key: k, states: states, size: size, at: c.now()}
	e.elem = c.order.PushFront(e)
	c.m[k] = e
	c.size += size
	for c.size > c.max {
		c.remove(c.order.Back().Value.(*cachedTrace))
	}
}

// drop forgets traces (a failed flush: what it left in the tables is
// unknown; a prune).
func (c *stateCache) drop(keys []traceKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if e := c.m[k]; e != nil {
			c.remove(e)
		}
	}
}

func (c *stateCache) remove(e *cachedTrace) {
	c.order.Remove(e.elem)
	delete(c.m, e.key)
	c.size -= e.size
}

// size estimates the memory a state row holds.
func (r *stateRow) size() int64 {
	n := int64(260 + len(r.traceID) + len(r.spanID) + len(r.parentID) + len(r.status) + len(r.op) + len(r.agent) +
		len(r.agentVersion) + len(r.conv) + len(r.thread) + len(r.model) + len(r.prompt) + len(r.hash) +
		len(r.d.EffAgent) + len(r.d.EffVersion) + len(r.d.ConvKey))
	for _, k := range r.msgKeys {
		n += int64(len(k)) + 16
	}
	return n
}
