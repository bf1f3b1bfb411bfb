package operator

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// writeLog records the operator's writes in one reconcile so that the reconcile can end only once the
// informer cache reflects them. Otherwise an event that arrives right after (the operator's own write
// on another object, a pod update) starts the next reconcile on a stale cache, which would re-apply
// what was just applied and, worse, stamp a new transition time on a condition that did not change.
type writeLog struct {
	mu     sync.Mutex
	writes []write
	own    *ownWrites
}

type write struct {
	gvk             schema.GroupVersionKind
	key             client.ObjectKey
	resourceVersion string // empty for a delete
}

func (l *writeLog) add(gvk schema.GroupVersionKind, key client.ObjectKey, resourceVersion string) {
	if l.own != nil && resourceVersion != "" {
		l.own.record(gvk.Kind, key, resourceVersion)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, write{gvk: gvk, key: key, resourceVersion: resourceVersion})
}

// resourceVersionOf reads metadata.resourceVersion from any object or apply configuration that the
// client filled from the API server's response.
func resourceVersionOf(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var m struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	return m.Metadata.ResourceVersion
}

// cacheSyncTimeout bounds the wait: a cache that falls further behind only costs a redundant no-op
// request in the next reconcile.
const cacheSyncTimeout = 5 * time.Second

// awaitCache waits until the cache holds every written resourceVersion (or no longer holds deleted
// objects). Another writer's later change also ends the wait for that object.
func (r *Reconciler) awaitCache(ctx context.Context, l *writeLog) {
	if len(l.writes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	pending := l.writes
	for len(pending) > 0 {
		var still []write
		for _, w := range pending {
			obj, err := r.scheme.New(w.gvk)
			if err != nil {
				continue
			}
			cobj, ok := obj.(client.Object)
			if !ok {
				continue
			}
			err = r.client.Get(ctx, w.key, cobj)
			switch {
			case w.resourceVersion == "":
				if err == nil {
					still = append(still, w)
				}
			case err == nil && cobj.GetResourceVersion() != w.resourceVersion && !newer(cobj.GetResourceVersion(), w.resourceVersion):
				still = append(still, w)
			case apierrors.IsNotFound(err):
				still = append(still, w)
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			r.log.V(1).Info("cache did not catch up with the operator's writes", "pending", len(pending))
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// newer reports whether resourceVersion a is later than b. resourceVersions are opaque to clients in
// general; etcd3-backed servers issue increasing integers, and when either does not parse the cache
// simply has to show b itself.
func newer(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
}

// ownWrites remembers the resourceVersions the operator's own writes produced, so that the watch
// events they cause do not start another reconcile: the reconcile that wrote them already waited for
// the cache to show them, so a reconcile they would start has nothing to do but costs a full pass.
type ownWrites struct {
	mu      sync.Mutex
	entries map[ownWrite]time.Time
}

type ownWrite struct {
	kind            string
	key             client.ObjectKey
	resourceVersion string
}

func (o *ownWrites) record(kind string, key client.ObjectKey, resourceVersion string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.entries == nil {
		o.entries = map[ownWrite]time.Time{}
	}
	o.entries[ownWrite{kind, key, resourceVersion}] = time.Now()
}

// consume reports whether obj is exactly the state an own write produced, forgetting it.
func (o *ownWrites) consume(kind string, obj client.Object) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := ownWrite{kind, client.ObjectKeyFromObject(obj), obj.GetResourceVersion()}
	if _, ok := o.entries[w]; ok {
		delete(o.entries, w)
		return true
	}
	return false
}

// expire drops entries whose event never came (a relist replaced it), so the set stays small.
func (o *ownWrites) expire(olderThan time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for w, at := range o.entries {
		if time.Since(at) > olderThan {
			delete(o.entries, w)
		}
	}
}
