// Command deploy-check renders darkscrape's Kubernetes manifests (deploy/) and validates
// them offline, with no cluster and nothing downloaded at run time:
//
//   - rendering: kustomize's own engine (sigs.k8s.io/kustomize/api/krusty, the code behind
//     `kustomize build` and `kubectl kustomize`);
//   - schema: every object against the Kubernetes API schema shipped in k8s.io/client-go
//     (the structured-merge-diff schema server-side apply uses: unknown fields, wrong
//     types and duplicate list keys are errors), then decoded strictly into the k8s.io/api
//     Go types;
//   - security (rules.go): every pod against the "restricted" Pod Security Standard with
//     the API server's own admission code (k8s.io/pod-security-admission), plus what the
//     standard leaves out: read-only root file systems, exec probes only, no ports, no
//     Service objects.
//
// Usage:
//
//	deploy-check [-out DIR] KUSTOMIZATION_DIR...
//
// With -out, each rendering is written to DIR/<name>.yaml and each Prometheus
// configuration found in a ConfigMap to DIR/<name>.<configmap>.prometheus.yml (for
// promtool). Exit status 1 lists every problem found.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Rendering is one kustomization's output: the YAML stream and its objects.
type Rendering struct {
	YAML    []byte
	Objects []*unstructured.Unstructured
}

// Render runs kustomize on dir, as `kubectl kustomize dir` does.
func Render(dir string) (*Rendering, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	yaml, err := resources.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: cannot write YAML: %w", dir, err)
	}
	out := &Rendering{YAML: yaml}
	for _, r := range resources.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		out.Objects = append(out.Objects, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// objectName is how problems name an object: Kind namespace/name.
func objectName(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", u.GetKind(), ns, u.GetName())
	}
	return fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
}

// Typed validates every object against the Kubernetes schema and returns it decoded into
// its Go type, with one problem per object that fails.
func Typed(objects []*unstructured.Unstructured) ([]runtime.Object, []string) {
	converter := applyconfigurations.NewTypeConverter(scheme.Scheme)
	var typed []runtime.Object
	var problems []string
	for _, u := range objects {
		name := objectName(u)
		if _, err := converter.ObjectToTyped(u); err != nil {
			problems = append(problems, fmt.Sprintf("%s: does not match the Kubernetes schema: %v", name, err))
			continue
		}
		obj, err := scheme.Scheme.New(u.GroupVersionKind())
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: unknown kind: %v", name, err))
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true); err != nil {
			problems = append(problems, fmt.Sprintf("%s: does not decode strictly: %v", name, err))
			continue
		}
		typed = append(typed, obj)
	}
	return typed, problems
}

// Check renders dir and returns the rendering and every problem found.
func Check(dir string) (*Rendering, []string, error) {
	rendering, err := Render(dir)
	if err != nil {
		return nil, nil, err
	}
	typed, problems := Typed(rendering.Objects)
	problems = append(problems, Security(typed)...)
	return rendering, problems, nil
}

// prometheusConfigs returns the prometheus.yml of every ConfigMap that has one, by
// ConfigMap name.
func prometheusConfigs(objects []*unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for _, u := range objects {
		if u.GetKind() != "ConfigMap" {
			continue
		}
		if text, found, _ := unstructured.NestedString(u.Object, "data", "prometheus.yml"); found {
			out[u.GetName()] = text
		}
	}
	return out
}

func main() {
	outDir := flag.String("out", "", "write each rendering (and its Prometheus configurations) to this directory")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: deploy-check [-out DIR] KUSTOMIZATION_DIR...")
		os.Exit(2)
	}
	failed := false
	for _, dir := range flag.Args() {
		rendering, problems, err := Check(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "deploy-check: %v\n", err)
			failed = true
			continue
		}
		name := filepath.Base(filepath.Clean(dir))
		if name == "." || name == "/" {
			name = "deploy"
		}
		if *outDir != "" {
			if err := writeOutputs(*outDir, name, rendering); err != nil {
				fmt.Fprintf(os.Stderr, "deploy-check: %v\n", err)
				failed = true
			}
		}
		if len(problems) > 0 {
			failed = true
			sort.Strings(problems)
			fmt.Fprintf(os.Stderr, "deploy-check: %s: %d problem(s):\n  %s\n", dir, len(problems), strings.Join(problems, "\n  "))
			continue
		}
		fmt.Printf("deploy-check: %s: %d objects (%s): schema valid, every pod passes the security rules\n",
			dir, len(rendering.Objects), kinds(rendering.Objects))
	}
	if failed {
		os.Exit(1)
	}
}

func kinds(objects []*unstructured.Unstructured) string {
	count := map[string]int{}
	for _, u := range objects {
		count[u.GetKind()]++
	}
	var parts []string
	for kind, n := range count {
		parts = append(parts, fmt.Sprintf("%d %s", n, kind))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func writeOutputs(outDir, name string, rendering *Rendering) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", outDir, err)
	}
	path := filepath.Join(outDir, name+".yaml")
	if err := os.WriteFile(path, rendering.YAML, 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	for configMap, text := range prometheusConfigs(rendering.Objects) {
		path := filepath.Join(outDir, name+"."+configMap+".prometheus.yml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", path, err)
		}
	}
	return nil
}
