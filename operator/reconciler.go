package operator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/hyperscan"
)

// Options tune the reconciler. The zero value is usable.
type Options struct {
	// DefaultProxy is the proxy workloads run unless their policy says otherwise.
	DefaultProxy capability.Proxy
	// SystemNamespace is the operator's own namespace, where cluster-level objects (the bypass node
	// list the bypass DaemonSet reads) are kept. Empty: none are rendered.
	SystemNamespace string
	// RegexChecker decides Hyperscan compatibility; without one the Hyperscan regex engine stays off.
	RegexChecker hyperscan.RegexChecker
	// Debounce is how long events are gathered before one cluster-wide reconcile runs (default 100ms).
	Debounce time.Duration
	// ResyncPeriod re-runs the reconcile without any event, to repair drift that raised none
	// (default 10m).
	ResyncPeriod time.Duration
	// ApplyConcurrency bounds parallel write requests (default 8).
	ApplyConcurrency int
	// AllowSeveralInProcess lets tests and benchmarks start more than one operator in one process
	// (controller-runtime otherwise refuses a second controller of the same name).
	AllowSeveralInProcess bool
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = 100 * time.Millisecond
	}
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = 10 * time.Minute
	}
	if o.ApplyConcurrency <= 0 {
		o.ApplyConcurrency = 8
	}
	return o
}

// clusterRequest is the only reconcile key: every event maps to it.
var clusterRequest = reconcile.Request{NamespacedName: types.NamespacedName{Name: "cluster"}}

// Reconciler makes the cluster match extensions.Translate's result.
type Reconciler struct {
	client    client.Client
	apiReader client.Reader
	scheme    *runtime.Scheme
	recorder  events.EventRecorder
	opts      Options
	kinds     optionalKinds
	log       logr.Logger

	// liveChecks remembers, per owned object and workload, the resourceVersion and configuration digest
	// last found up to date, so an unchanged object costs a map lookup instead of a comparison.
	liveChecks sync.Map // objectKey -> liveCheck

	own ownWrites

	reconciles atomic.Uint64
}

type liveCheck struct{ resourceVersion, hash string }

// Reconciles returns how many reconciles completed without a request error. Tests and the demo use it
// to know that a freshly started operator has seen the cluster.
func (r *Reconciler) Reconciles() uint64 { return r.reconciles.Load() }

// Reconcile runs one cluster-wide pass: snapshot, Translate, apply, prune, status.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	phase := func(name string, since time.Time) time.Time {
		now := time.Now()
		reconcileDuration.WithLabelValues(name).Observe(now.Sub(since).Seconds())
		return now
	}

	snap, err := r.read(ctx)
	if err != nil {
		reconcileTotal.WithLabelValues("error").Inc()
		return reconcile.Result{}, err
	}
	t := phase("snapshot", start)

	res, err := extensions.Translate(snap.input)
	t = phase("translate", t)
	issues := issueSet{}
	if err != nil {
		var inputErr *extensions.InputError
		if !errors.As(err, &inputErr) {
			// Anything but a policy-confined problem means the result cannot be trusted: apply nothing.
			reconcileTotal.WithLabelValues("error").Inc()
			return reconcile.Result{}, fmt.Errorf("translate: %w", err)
		}
		issues.addInputError(inputErr)
	}

	var requestErrs []error
	r.own.expire(time.Minute)
	written := &writeLog{own: &r.own}
	requestErrs = append(requestErrs, r.applyAll(ctx, snap, res, issues, written)...)
	t = phase("apply", t)
	requestErrs = append(requestErrs, r.prune(ctx, snap, res, issues, written)...)
	t = phase("prune", t)
	// Published before the statuses: whoever reads a status that reports a decision finds it
	// in the metrics too.
	recordDecisionMetrics(res)
	requestErrs = append(requestErrs, r.updateStatuses(ctx, snap, res, issues, written)...)
	t = phase("status", t)
	r.awaitCache(ctx, written)
	phase("cachesync", t)
	phase("total", start)

	if err := errors.Join(requestErrs...); err != nil {
		reconcileTotal.WithLabelValues("error").Inc()
		return reconcile.Result{}, err
	}
	r.reconciles.Add(1)
	if len(issues) > 0 {
		reconcileTotal.WithLabelValues("problems").Inc()
	} else {
		reconcileTotal.WithLabelValues("success").Inc()
	}
	r.log.V(1).Info("reconciled", "duration", time.Since(start), "objects", len(res.Objects),
		"workloadPatches", len(res.WorkloadPatches), "policies", len(res.Policies), "policiesWithProblems", len(issues))
	return reconcile.Result{RequeueAfter: r.opts.ResyncPeriod}, nil
}

// applyAll applies every owned object and workload patch whose desired state differs from the live one.
// Policy-confined problems (clashes, conflicts) go into issues; request failures are returned.
func (r *Reconciler) applyAll(ctx context.Context, snap *snapshot, res extensions.Result, issues issueSet, written *writeLog) []error {
	var mu sync.Mutex
	var errs []error
	record := func(policy types.NamespacedName, kind string, o outcome, err error) {
		objectOperations.WithLabelValues(kindLabel(kind), string(o.result)).Inc()
		mu.Lock()
		defer mu.Unlock()
		if o.issue != nil {
			issues.add(policy, *o.issue)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.ApplyConcurrency)
	for _, obj := range res.Objects {
		policy := types.NamespacedName{Namespace: obj.GetNamespace(), Name: policyOf(obj)}
		g.Go(func() error {
			o, kind, err := r.applyObject(gctx, snap, obj, written)
			record(policy, kind, o, err)
			return nil
		})
	}
	deployments, statefulSets := workloadIndex(snap)
	for _, p := range res.WorkloadPatches {
		if p.Pending {
			continue
		}
		policy := types.NamespacedName{Namespace: p.Workload.Namespace, Name: p.Policy}
		g.Go(func() error {
			o, err := r.applyWorkload(gctx, p.Workload, p.Apply, deployments, statefulSets, written)
			record(policy, p.Workload.Kind, o, err)
			return nil
		})
	}
	_ = g.Wait()
	return errs
}

type outcomeResult string

const (
	outcomeApplied   outcomeResult = "applied"
	outcomeUnchanged outcomeResult = "unchanged"
	outcomeDeleted   outcomeResult = "deleted"
	outcomeReleased  outcomeResult = "released"
	outcomeClash     outcomeResult = "clash"
	outcomeConflict  outcomeResult = "conflict"
	outcomeFailed    outcomeResult = "failed"
	outcomeSkipped   outcomeResult = "skipped"
)

type outcome struct {
	result outcomeResult
	issue  *issue
}

func (r *Reconciler) applyObject(ctx context.Context, snap *snapshot, obj extensions.Object, written *writeLog) (outcome, string, error) {
	gvk, err := apiutil.GVKForObject(obj, r.scheme)
	if err != nil {
		return outcome{result: outcomeFailed}, "unknown", fmt.Errorf("object %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	key := objectKey{gvk.Kind, obj.GetNamespace(), obj.GetName()}
	if !r.serves(gvk.Kind) {
		return outcome{result: outcomeSkipped, issue: &issue{
			Reason:  ReasonKindNotServed,
			Message: fmt.Sprintf("%s %s/%s not applied: the cluster does not serve %s", key.Kind, key.Namespace, key.Name, gvk.GroupVersion()),
		}}, gvk.Kind, nil
	}
	body, hash, err := applyBody(obj, gvk)
	if err != nil {
		return outcome{result: outcomeFailed}, gvk.Kind, err
	}

	if live, ok := snap.live[key]; ok {
		if !ownedByMeshaccel(live, r.opts.SystemNamespace) {
			return clash(key, live), gvk.Kind, nil
		}
		if prev, ok := r.liveChecks.Load(key); ok && prev.(liveCheck) == (liveCheck{live.GetResourceVersion(), hash}) {
			return outcome{result: outcomeUnchanged}, gvk.Kind, nil
		}
		same, err := upToDate(body, hash, live)
		if err != nil {
			return outcome{result: outcomeFailed}, gvk.Kind, fmt.Errorf("comparing %s: %w", key, err)
		}
		if same {
			r.liveChecks.Store(key, liveCheck{live.GetResourceVersion(), hash})
			return outcome{result: outcomeUnchanged}, gvk.Kind, nil
		}
	} else {
		// The cache holds only labelled ConfigMaps and WasmPlugins, and may lag: ask the API server
		// before creating, so a user's object of the same name is never taken over.
		existing := &metav1.PartialObjectMetadata{}
		existing.SetGroupVersionKind(gvk)
		err := r.apiReader.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, existing)
		switch {
		case err == nil:
			if !ownedByMeshaccel(existing, r.opts.SystemNamespace) {
				return clash(key, existing), gvk.Kind, nil
			}
		case apierrors.IsNotFound(err):
		default:
			return outcome{result: outcomeFailed}, gvk.Kind, fmt.Errorf("checking %s before creating it: %w", key, err)
		}
	}

	err = r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(body), client.FieldOwner(FieldManager), client.ForceOwnership)
	if err != nil {
		return outcome{result: outcomeFailed, issue: &issue{Reason: ReasonApplyFailed, Message: fmt.Sprintf("applying %s: %v", key, err)}},
			gvk.Kind, fmt.Errorf("applying %s: %w", key, err)
	}
	written.add(gvk, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, body.GetResourceVersion())
	r.log.Info("applied", "kind", key.Kind, "namespace", key.Namespace, "name", key.Name)
	return outcome{result: outcomeApplied}, gvk.Kind, nil
}

func clash(key objectKey, live metav1.Object) outcome {
	owner := live.GetLabels()[LabelManagedBy]
	if owner == "" {
		owner = "no app.kubernetes.io/managed-by label"
	} else {
		owner = "app.kubernetes.io/managed-by=" + owner
	}
	return outcome{result: outcomeClash, issue: &issue{
		Reason:  ReasonNameClash,
		Message: fmt.Sprintf("%s already exists and is not meshaccel's (%s); left unchanged", key, owner),
	}}
}

func (r *Reconciler) serves(kind string) bool {
	switch kind {
	case "EnvoyFilter":
		return r.kinds.EnvoyFilters
	case "WasmPlugin":
		return r.kinds.WasmPlugins
	}
	return true
}

func workloadIndex(snap *snapshot) (map[types.NamespacedName]*appsv1.Deployment, map[types.NamespacedName]*appsv1.StatefulSet) {
	deployments := make(map[types.NamespacedName]*appsv1.Deployment, len(snap.input.Deployments))
	for i := range snap.input.Deployments {
		d := &snap.input.Deployments[i]
		deployments[types.NamespacedName{Namespace: d.Namespace, Name: d.Name}] = d
	}
	statefulSets := make(map[types.NamespacedName]*appsv1.StatefulSet, len(snap.input.StatefulSets))
	for i := range snap.input.StatefulSets {
		s := &snap.input.StatefulSets[i]
		statefulSets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	return deployments, statefulSets
}

// applyWorkload applies a workload patch unless the fields meshaccel's manager holds already equal it.
// Reading those fields back from managed fields is the expensive part of a reconcile at scale, so a
// workload found (or made) equal is remembered by resourceVersion and configuration digest.
func (r *Reconciler) applyWorkload(ctx context.Context, ref extensions.WorkloadRef, ac runtime.ApplyConfiguration,
	deployments map[types.NamespacedName]*appsv1.Deployment, statefulSets map[types.NamespacedName]*appsv1.StatefulSet,
	written *writeLog,
) (outcome, error) {
	nn := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	var live metav1.Object
	var extract func() (any, error)
	switch ac.(type) {
	case *appsv1ac.DeploymentApplyConfiguration:
		d, ok := deployments[nn]
		if !ok {
			return outcome{result: outcomeSkipped}, nil // deleted since the snapshot
		}
		live, extract = d, func() (any, error) { return appsv1ac.ExtractDeployment(d, FieldManager) }
	case *appsv1ac.StatefulSetApplyConfiguration:
		st, ok := statefulSets[nn]
		if !ok {
			return outcome{result: outcomeSkipped}, nil
		}
		live, extract = st, func() (any, error) { return appsv1ac.ExtractStatefulSet(st, FieldManager) }
	default:
		return outcome{result: outcomeFailed}, fmt.Errorf("workload patch for %s has unsupported type %T", ref, ac)
	}
	key := objectKey{ref.Kind, ref.Namespace, ref.Name}
	hash, err := digest(ac)
	if err != nil {
		return outcome{result: outcomeFailed}, fmt.Errorf("encoding the configuration for %s: %w", ref, err)
	}
	if prev, ok := r.liveChecks.Load(key); ok && prev.(liveCheck) == (liveCheck{live.GetResourceVersion(), hash}) {
		return outcome{result: outcomeUnchanged}, nil
	}
	current, err := extract()
	if err != nil {
		return outcome{result: outcomeFailed}, fmt.Errorf("reading meshaccel's fields of %s: %w", ref, err)
	}
	same, err := sameApplyConfiguration(ac, current)
	if err != nil {
		return outcome{result: outcomeFailed}, fmt.Errorf("comparing %s: %w", ref, err)
	}
	if same {
		r.liveChecks.Store(key, liveCheck{live.GetResourceVersion(), hash})
		return outcome{result: outcomeUnchanged}, nil
	}
	o, err := r.applyWorkloadConfiguration(ctx, ref, ac, outcomeApplied, written)
	if o.result == outcomeApplied {
		// The response filled ac: its resourceVersion is the state that holds exactly this configuration.
		r.liveChecks.Store(key, liveCheck{resourceVersionOf(ac), hash})
	}
	return o, err
}

// digest identifies an apply configuration's content.
func digest(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12]), nil
}

func (r *Reconciler) applyWorkloadConfiguration(ctx context.Context, ref extensions.WorkloadRef, ac runtime.ApplyConfiguration, success outcomeResult, written *writeLog) (outcome, error) {
	// Never forced: a field another manager holds stays theirs. Some fields meshaccel sets are atomic
	// in server-side apply (nodeSelector, node affinity terms), so forcing would erase the user's
	// entries, not just take meshaccel's.
	err := r.client.Apply(ctx, ac, client.FieldOwner(FieldManager))
	switch {
	case err == nil:
		written.add(appsv1.SchemeGroupVersion.WithKind(ref.Kind), client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, resourceVersionOf(ac))
		r.log.Info("applied workload", "workload", ref.String(), "outcome", string(success))
		return outcome{result: success}, nil
	case apierrors.IsConflict(err):
		r.log.Info("workload fields held by another manager", "workload", ref.String(), "conflict", err.Error())
		return outcome{result: outcomeConflict, issue: &issue{
			Reason:  ReasonFieldConflict,
			Message: fmt.Sprintf("%s left unchanged: %v", ref, conflictMessage(err)),
		}}, nil
	case apierrors.IsNotFound(err):
		return outcome{result: outcomeSkipped}, nil
	default:
		return outcome{result: outcomeFailed, issue: &issue{Reason: ReasonApplyFailed, Message: fmt.Sprintf("applying %s: %v", ref, err)}},
			fmt.Errorf("applying %s: %w", ref, err)
	}
}

// conflictMessage shortens the API server's conflict error to the fields and their managers.
func conflictMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "conflict"); i >= 0 {
		msg = msg[i:]
	}
	return msg
}

// prune deletes owned objects Translate no longer wants and releases meshaccel's fields on workloads no
// policy selects any more. Objects of a policy with an input problem are kept as they are: an invalid
// edit must not tear down what the last valid version set up.
func (r *Reconciler) prune(ctx context.Context, snap *snapshot, res extensions.Result, issues issueSet, written *writeLog) []error {
	wantedObjects := map[objectKey]bool{}
	for _, obj := range res.Objects {
		gvk, err := apiutil.GVKForObject(obj, r.scheme)
		if err != nil {
			continue
		}
		wantedObjects[objectKey{gvk.Kind, obj.GetNamespace(), obj.GetName()}] = true
	}
	wantedWorkloads := map[objectKey]bool{}
	for _, p := range res.WorkloadPatches {
		wantedWorkloads[objectKey{p.Workload.Kind, p.Workload.Namespace, p.Workload.Name}] = true
	}
	keep := func(namespace, policy string) bool {
		return issues.hasInputProblem(types.NamespacedName{Namespace: namespace, Name: policy})
	}

	var mu sync.Mutex
	var errs []error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.ApplyConcurrency)

	keys := make([]objectKey, 0, len(snap.live))
	for key := range snap.live {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, key := range keys {
		live := snap.live[key]
		if wantedObjects[key] || !ownedByMeshaccel(live, r.opts.SystemNamespace) || keep(key.Namespace, policyOf(live)) {
			continue
		}
		g.Go(func() error {
			uid := live.GetUID()
			err := r.client.Delete(gctx, live, client.Preconditions{UID: &uid})
			if err != nil && !apierrors.IsNotFound(err) {
				objectOperations.WithLabelValues(kindLabel(key.Kind), string(outcomeFailed)).Inc()
				mu.Lock()
				errs = append(errs, fmt.Errorf("deleting %s: %w", key, err))
				mu.Unlock()
				return nil
			}
			r.liveChecks.Delete(key)
			if gvk, err := apiutil.GVKForObject(live, r.scheme); err == nil {
				written.add(gvk, client.ObjectKeyFromObject(live), "")
			}
			objectOperations.WithLabelValues(kindLabel(key.Kind), string(outcomeDeleted)).Inc()
			r.log.Info("deleted", "kind", key.Kind, "namespace", key.Namespace, "name", key.Name)
			return nil
		})
	}

	release := func(ref extensions.WorkloadRef, ac runtime.ApplyConfiguration) {
		g.Go(func() error {
			o, err := r.applyWorkloadConfiguration(gctx, ref, ac, outcomeReleased, written)
			objectOperations.WithLabelValues(kindLabel(ref.Kind), string(o.result)).Inc()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	for i := range snap.input.Deployments {
		d := &snap.input.Deployments[i]
		ref := extensions.WorkloadRef{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name}
		if appliedByMeshaccel(d) && !wantedWorkloads[objectKey{ref.Kind, ref.Namespace, ref.Name}] && !keep(d.Namespace, d.Labels[LabelPolicy]) {
			// An apply configuration naming only the object drops every field meshaccel held.
			release(ref, appsv1ac.Deployment(d.Name, d.Namespace))
		}
	}
	for i := range snap.input.StatefulSets {
		s := &snap.input.StatefulSets[i]
		ref := extensions.WorkloadRef{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name}
		if appliedByMeshaccel(s) && !wantedWorkloads[objectKey{ref.Kind, ref.Namespace, ref.Name}] && !keep(s.Namespace, s.Labels[LabelPolicy]) {
			release(ref, appsv1ac.StatefulSet(s.Name, s.Namespace))
		}
	}
	_ = g.Wait()
	return errs
}

// decisionKey names one meshaccel_workloads series.
type decisionKey struct{ feature, enabled, reason string }

// publishedDecisions holds the series the last reconcile set, so the next one deletes only those
// that went away: a Reset followed by Sets would let a scrape in between see no workloads at all.
var publishedDecisions struct {
	sync.Mutex
	keys map[decisionKey]bool
}

// recordDecisionMetrics publishes workloads per feature and decision.
func recordDecisionMetrics(res extensions.Result) {
	counts := map[decisionKey]int{}
	misplaced := 0
	for _, w := range res.Workloads {
		for _, f := range w.Features {
			counts[decisionKey{string(f.Feature), fmt.Sprint(f.Enabled), f.Reason}]++
		}
		misplaced += len(w.MisplacedPods)
	}
	publishedDecisions.Lock()
	defer publishedDecisions.Unlock()
	for k, n := range counts {
		workloadDecisions.WithLabelValues(k.feature, k.enabled, k.reason).Set(float64(n))
	}
	for k := range publishedDecisions.keys {
		if _, ok := counts[k]; !ok {
			workloadDecisions.DeleteLabelValues(k.feature, k.enabled, k.reason)
		}
	}
	publishedDecisions.keys = make(map[decisionKey]bool, len(counts))
	for k := range counts {
		publishedDecisions.keys[k] = true
	}
	misplacedPods.Set(float64(misplaced))
}

// joinMessages keeps status messages readable when many problems pile up.
func joinMessages(msgs []string, limit int) string {
	if len(msgs) <= limit {
		return strings.Join(msgs, "; ")
	}
	return strings.Join(msgs[:limit], "; ") + fmt.Sprintf("; and %d more", len(msgs)-limit)
}
