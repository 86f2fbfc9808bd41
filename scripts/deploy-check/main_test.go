package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's own deployments pass, and render what the README says they hold.
func TestDeployDirectoriesPass(t *testing.T) {
	for dir, want := range map[string]string{
		"../../deploy":           "1 ConfigMap, 1 DaemonSet, 2 Namespace, 3 Deployment",
		"../../deploy/cluster-a": "1 ConfigMap, 1 DaemonSet, 2 Deployment, 2 Namespace",
		"../../deploy/cluster-b": "1 DaemonSet, 2 Deployment, 2 Namespace",
		"../../deploy/central":   "1 ConfigMap, 1 Deployment, 1 Namespace",
	} {
		rendering, problems, err := Check(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(problems) > 0 {
			t.Errorf("%s: %s", dir, strings.Join(problems, "\n"))
		}
		if got := kinds(rendering.Objects); got != want {
			t.Errorf("%s renders %s, want %s", dir, got, want)
		}
	}
}

const namespace = `apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    pod-security.kubernetes.io/enforce: LEVEL
`

// A pod that passes every rule; each case below breaks one thing.
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: demo
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: app
          image: darkscrape:latest
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: ["ALL"]}
          livenessProbe:
            exec: {command: [darkscrape, probe]}
          volumeMounts:
            - {name: host, mountPath: /host/proc, readOnly: true}
      volumes:
        - {name: host, emptyDir: {}}
`

func check(t *testing.T, level, manifest string) []string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "resources: [namespace.yaml, app.yaml]\n",
		"namespace.yaml":     strings.ReplaceAll(namespace, "LEVEL", level),
		"app.yaml":           manifest,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, problems, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

func mustReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("the fixture has no %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestAGoodPodPasses(t *testing.T) {
	if problems := check(t, "restricted", deployment); len(problems) > 0 {
		t.Fatal(strings.Join(problems, "\n"))
	}
}

func TestEachViolationIsFound(t *testing.T) {
	hostPath := mustReplace(t, deployment, "{name: host, emptyDir: {}}", "{name: host, hostPath: {path: /proc}}")
	cases := []struct {
		name, level, manifest, want string
	}{
		{"privilege escalation", "restricted",
			mustReplace(t, deployment, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
			"allowPrivilegeEscalation != false"},
		{"writable root", "restricted",
			mustReplace(t, deployment, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
			"root file system not read-only"},
		{"capabilities kept", "restricted",
			mustReplace(t, deployment, `drop: ["ALL"]`, `drop: ["NET_RAW"]`),
			"unrestricted capabilities"},
		{"no seccomp", "restricted",
			mustReplace(t, deployment, "seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}"),
			"seccompProfile"},
		{"may run as root", "restricted",
			mustReplace(t, deployment, "runAsNonRoot: true", "runAsNonRoot: false"),
			"runAsNonRoot != true"},
		{"host path in a restricted namespace", "restricted", hostPath, `restricted volume types (volume "host" uses restricted volume type "hostPath")`},
		{"host path other than /proc, /sys, /", "privileged",
			mustReplace(t, hostPath, "path: /proc", "path: /var/run/docker.sock"), "mounts host path /var/run/docker.sock"},
		{"writable host mount", "privileged",
			mustReplace(t, hostPath, "mountPath: /host/proc, readOnly: true", "mountPath: /host/proc"), "mounts host volume host writable"},
		{"host PID", "privileged",
			mustReplace(t, hostPath, "automountServiceAccountToken: false", "automountServiceAccountToken: false\n      hostPID: true"),
			"shares the host's PID or IPC namespace"},
		{"baseline namespace", "baseline", deployment, `enforces "baseline"`},
		{"HTTP probe", "restricted",
			mustReplace(t, deployment, "exec: {command: [darkscrape, probe]}", "httpGet: {port: 8080, path: /}"),
			"liveness probe connects to the pod"},
		{"a port", "restricted",
			mustReplace(t, deployment, "          livenessProbe:", "          ports: [{containerPort: 9100}]\n          livenessProbe:"),
			"declares ports"},
		{"service account token", "restricted",
			mustReplace(t, deployment, "automountServiceAccountToken: false", "automountServiceAccountToken: true"),
			"mounts a service account token"},
		{"a Service", "restricted",
			deployment + "---\napiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: demo}\nspec:\n  ports: [{port: 80}]\n",
			"nothing needs a Service"},
		{"an unknown field", "restricted",
			mustReplace(t, deployment, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            readOnlyRootFileSystem: true"),
			"does not match the Kubernetes schema"},
		{"a wrong type", "restricted",
			mustReplace(t, deployment, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: \"yes\""),
			"does not match the Kubernetes schema"},
	}
	for _, c := range cases {
		problems := check(t, c.level, c.manifest)
		joined := strings.Join(problems, "\n")
		if !strings.Contains(joined, c.want) {
			t.Errorf("%s: want a problem with %q, got:\n%s", c.name, c.want, joined)
		}
	}
}

func TestAPodOutsideADefinedNamespaceFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [app.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	_, problems, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(problems, "\n"), `namespace "demo" is not defined`) {
		t.Fatalf("got %v", problems)
	}
}
