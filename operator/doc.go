// Package operator runs meshaccel inside a cluster: it watches nodes, node features, workloads, Istio
// routing and AccelerationPolicies, hands all of it to extensions.Translate, and makes the cluster match
// the result with server-side apply under one field manager.
//
// It is deliberately thin. Every decision is Translate's; the operator only reads the informer cache,
// applies what differs from the live state, prunes what it owns and no longer wants, and reports
// status, events and metrics. The whole cluster is one reconcile key: events are debounced into a
// single reconcile that sees a consistent snapshot, so a burst of node or pod changes costs one
// Translate call, not one per object.
//
// Ownership rules, which keep the operator from ever touching what it does not own:
//   - A whole object (ConfigMap, EnvoyFilter, WasmPlugin) is meshaccel's when it carries the label
//     app.kubernetes.io/managed-by=meshaccel and an owner reference to an AccelerationPolicy (or, for
//     a cluster-level object such as the bypass node list, the meshaccel.io/scope=cluster label in the
//     operator's own namespace). Any other
//     object with a name meshaccel wants is a name clash: reported in the policy's status and as an
//     event, never overwritten.
//   - On a Deployment or StatefulSet meshaccel owns exactly the fields its apply configuration carries
//     (its pod-template annotations, its placement constraint, the gateway proxy's resources), tracked
//     by the API server's managed fields under the field manager "meshaccel". It never forces: when
//     another manager holds one of those fields the workload is left unchanged (server-side apply is
//     all or nothing) and the conflict is reported. Forcing would be wrong here, as some of these
//     fields (nodeSelector, node affinity terms) are atomic: taking them erases the user's entries.
package operator
