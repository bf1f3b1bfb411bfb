package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/manifest"
	"github.com/meshaccel/meshaccel/hyperscan/regexcompat"
)

// translateFlags are shared by render and explain.
type translateFlags struct {
	files        []string
	output       string
	proxyFlavor  string
	proxyVersion string
	proxyExts    []string
	systemNS     string
}

func (f *translateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "manifest files or directories to read, or - for standard input (repeatable)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().StringVar(&f.proxyFlavor, "proxy-flavor", string(v1alpha1.ProxyIstioProxyV2), "default proxy flavor: IstioProxyV2, IstioContrib, EnvoyContrib or Custom")
	cmd.Flags().StringVar(&f.proxyVersion, "proxy-version", "1.28.2", "default proxy version (Istio version for Istio flavors)")
	cmd.Flags().StringSliceVar(&f.proxyExts, "proxy-extensions", nil, "Envoy extensions of a Custom default proxy")
	cmd.Flags().StringVar(&f.systemNS, "system-namespace", "meshaccel-system", "namespace meshaccel runs in, for cluster-level objects such as the bypass node list")
	_ = cmd.MarkFlagRequired("filename")
}

// translate reads the manifests and runs the core, exactly as the operator does.
func (f *translateFlags) translate(stdin io.Reader) (extensions.Result, error) {
	if f.output != "yaml" && f.output != "json" && f.output != "text" {
		return extensions.Result{}, fmt.Errorf("--output %q: want yaml or json", f.output)
	}
	objs, err := readObjects(f.files, stdin)
	if err != nil {
		return extensions.Result{}, err
	}
	in := extensions.Input{
		DefaultProxy:    capability.Proxy{Flavor: v1alpha1.ProxyFlavor(f.proxyFlavor), Version: f.proxyVersion, Extensions: f.proxyExts},
		RegexChecker:    regexcompat.NewChecker(),
		SystemNamespace: f.systemNS,
	}
	if err := in.AddObjects(objs...); err != nil {
		return extensions.Result{}, err
	}
	return extensions.Translate(in)
}

// manifestReader decodes every kind the translator reads, strictly.
var manifestReader = func() *manifest.Reader {
	r, err := manifest.NewReader(v1alpha1.AddToScheme)
	if err != nil {
		panic(err)
	}
	return r
}()

// readObjects reads manifests (files, directories, "-") into typed objects in input order.
func readObjects(paths []string, stdin io.Reader) ([]runtime.Object, error) {
	objects, err := manifestReader.ReadPaths(paths, stdin)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(objects))
	for i, o := range objects {
		out[i] = o.Obj
	}
	return out, nil
}

func init() { addCommand(newRenderCommand) }

func newRenderCommand() *cobra.Command {
	var flags translateFlags
	cmd := &cobra.Command{
		Use:   "render -f <files|->",
		Short: "Print every object meshaccel would apply for the given cluster manifests",
		Long: `render runs meshaccel's translator offline on Nodes, NodeFeatures, workloads, AccelerationPolicies
and Istio routing objects (plain manifests or 'kubectl get -o yaml' lists) and prints the objects to
apply: owned EnvoyFilters, WasmPlugins and ConfigMaps, then the server-side apply configuration of each
selected workload. Nothing is printed when any input is invalid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			result, err := flags.translate(cmd.InOrStdin())
			if err != nil {
				return inputFailure(err)
			}
			return writeRendered(cmd.OutOrStdout(), result, flags.output)
		},
	}
	flags.register(cmd)
	return cmd
}

// inputFailure turns the core's list of problems into exit code 1 with one problem per line.
func inputFailure(err error) error {
	var inputErr *extensions.InputError
	if asInputError(err, &inputErr) {
		return &ExitError{Code: 1, Message: "invalid input:\n  " + strings.ReplaceAll(inputErr.Error(), "\n", "\n  ")}
	}
	return err
}

func asInputError(err error, target **extensions.InputError) bool {
	e, ok := err.(*extensions.InputError)
	if ok {
		*target = e
	}
	return ok
}

// RenderedDocuments returns the objects and workload apply configurations in output order.
func RenderedDocuments(result extensions.Result) []any {
	docs := make([]any, 0, len(result.Objects)+len(result.WorkloadPatches))
	for _, obj := range result.Objects {
		docs = append(docs, obj)
	}
	for _, p := range result.WorkloadPatches {
		docs = append(docs, p.Apply)
	}
	return docs
}

func writeRendered(w io.Writer, result extensions.Result, format string) error {
	docs := RenderedDocuments(result)
	if format == "json" {
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": docs}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	pending := map[runtime.ApplyConfiguration]bool{}
	for _, p := range result.WorkloadPatches {
		pending[p.Apply] = p.Pending
	}
	for i, doc := range docs {
		body, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if ac, ok := doc.(runtime.ApplyConfiguration); ok && pending[ac] {
			fmt.Fprintln(w, "# pending: the policy's rollout strategy is Manual; apply the pod-template part to roll it out")
		}
		if _, err := w.Write(body); err != nil {
			return err
		}
	}
	return nil
}

func init() { addCommand(newExplainCommand) }

func newExplainCommand() *cobra.Command {
	var flags translateFlags
	cmd := &cobra.Command{
		Use:   "explain -f <files|-> [workload | node/NAME]",
		Short: "Explain every decision: per workload and feature, and per node, with the evidence",
		Long: `explain prints, for each selected workload, whether each requested feature is enabled, why, and
the node signals behind it; and for each node what every extension made of its signals. Name a
workload (NAME, NAMESPACE/NAME or KIND/NAMESPACE/NAME) or a node (node/NAME) to print only that.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags.output = defaultString(flags.output, "text")
			result, err := flags.translate(cmd.InOrStdin())
			if err != nil {
				return inputFailure(err)
			}
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			return writeExplanation(cmd.OutOrStdout(), result, target, flags.output)
		},
	}
	flags.register(cmd)
	cmd.Flags().Lookup("output").DefValue = "text"
	_ = cmd.Flags().Set("output", "text")
	cmd.Flags().Lookup("output").Usage = "output format: text or json"
	return cmd
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeExplanation(w io.Writer, result extensions.Result, target, format string) error {
	workloads, nodes := result.Workloads, result.Nodes
	if target != "" {
		workloads, nodes = nil, nil
		if name, ok := strings.CutPrefix(target, "node/"); ok {
			for _, n := range result.Nodes {
				if n.Node.Name == name {
					nodes = append(nodes, n)
				}
			}
		} else {
			for _, d := range result.Workloads {
				if matchesWorkload(d.Workload, target) {
					workloads = append(workloads, d)
				}
			}
		}
		if len(workloads)+len(nodes) == 0 {
			return &ExitError{Code: 1, Message: fmt.Sprintf("%q: no selected workload or node by that name", target)}
		}
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"workloads": workloads, "nodes": nodes, "policies": result.Policies})
	}
	for _, d := range workloads {
		kind := "sidecar"
		if d.Gateway {
			kind = "gateway"
		}
		fmt.Fprintf(w, "%s  (policy %s, %s, proxy %s)\n", d.Workload, d.Policy, kind, d.Proxy)
		fmt.Fprintf(w, "  schedulable nodes: %s\n", listOrNone(d.CandidateNodes))
		for _, f := range d.Features {
			mark := "off"
			if f.Enabled {
				mark = "ON "
			}
			fmt.Fprintf(w, "  %s %-9s %s: %s\n", mark, f.Feature, f.Reason, f.Message)
			for _, ev := range f.Evidence {
				fmt.Fprintf(w, "        evidence: %s\n", ev)
			}
		}
		for _, p := range d.MisplacedPods {
			fmt.Fprintf(w, "  misplaced pod: %s\n", p)
		}
		fmt.Fprintln(w)
	}
	for _, n := range nodes {
		fmt.Fprintf(w, "node/%s  (arch %s)\n", n.Node.Name, defaultString(n.Node.Arch, "unknown"))
		features := make([]string, 0, len(n.Support))
		for f := range n.Support {
			features = append(features, string(f))
		}
		sort.Strings(features)
		for _, f := range features {
			s := n.Support[capability.Feature(f)]
			mark := "no "
			if s.Supported {
				mark = "yes"
			}
			fmt.Fprintf(w, "  %s %-9s %s: %s\n", mark, f, s.Reason, s.Message)
			for _, ev := range s.Evidence {
				fmt.Fprintf(w, "        evidence: %s\n", ev)
			}
		}
		fmt.Fprintln(w)
	}
	return nil
}

func matchesWorkload(ref extensions.WorkloadRef, target string) bool {
	switch strings.Count(target, "/") {
	case 0:
		return ref.Name == target
	case 1:
		return ref.Namespace+"/"+ref.Name == target
	default:
		return strings.EqualFold(ref.String(), target)
	}
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
