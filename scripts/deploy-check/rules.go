package main

// The security rules every rendered pod must meet (the issue's "restricted pod security
// profile on every pod", and dark processes that nothing can connect to):
//
//  1. The "restricted" Pod Security Standard, evaluated by the API server's admission code
//     (k8s.io/pod-security-admission) at the latest version: no privilege escalation, all
//     capabilities dropped, RuntimeDefault (or Localhost) seccomp, non-root, no privileged
//     containers, restricted volume types, no host namespaces or ports.
//     The one exception is a pod in a namespace that enforces "privileged" (the node
//     exporter's): it may fail only "host namespaces", "hostPath volumes" and "restricted
//     volume types", and then only with hostNetwork (no host PID or IPC), read-only mounts
//     of /proc, /sys and / as its only hostPath volumes, and no other forbidden volume.
//  2. Every pod's namespace is defined in the same rendering with its Pod Security labels.
//  3. Every container has a read-only root file system (the standard does not ask it).
//  4. No container declares a port, no probe connects (httpGet, tcpSocket, grpc): a dark
//     process listens on nothing the kubelet could reach. Every container has an exec
//     liveness probe.
//  5. No pod mounts a service account token; no Service or Ingress object exists.

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	psa "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Label that names the Pod Security level a namespace enforces.
const enforceLabel = "pod-security.kubernetes.io/enforce"

// The checks a "privileged" namespace's pod may fail, as the admission code names them
// (baseline's two, and restricted's volume types, which hostPath fails again;
// hostAccess checks that hostPath is the only volume type beyond restricted's).
var hostExceptions = map[string]bool{
	"host namespaces":         true,
	"hostPath volumes":        true,
	"restricted volume types": true,
}

// The host paths such a pod may mount, read-only.
var allowedHostPaths = map[string]bool{"/proc": true, "/sys": true, "/": true}

// podOf returns the pod template of a workload object, or nil for other objects.
func podOf(obj runtime.Object) (string, *metav1.ObjectMeta, *corev1.PodSpec) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return "Pod " + o.Namespace + "/" + o.Name, &o.ObjectMeta, &o.Spec
	case *appsv1.Deployment:
		return "Deployment " + o.Namespace + "/" + o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return "DaemonSet " + o.Namespace + "/" + o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return "StatefulSet " + o.Namespace + "/" + o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *appsv1.ReplicaSet:
		return "ReplicaSet " + o.Namespace + "/" + o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *batchv1.Job:
		return "Job " + o.Namespace + "/" + o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *batchv1.CronJob:
		t := &o.Spec.JobTemplate.Spec.Template
		return "CronJob " + o.Namespace + "/" + o.Name, &t.ObjectMeta, &t.Spec
	}
	return "", nil, nil
}

func namespaceOf(obj runtime.Object) string {
	if accessor, ok := obj.(metav1.Object); ok {
		return accessor.GetNamespace()
	}
	return ""
}

// Security returns every violation of the rules above in the typed objects of one
// rendering.
func Security(objects []runtime.Object) []string {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return []string{fmt.Sprintf("cannot build the Pod Security evaluator: %v", err)}
	}
	restricted := psa.LevelVersion{Level: psa.LevelRestricted, Version: psa.LatestVersion()}
	levels := map[string]string{}
	for _, obj := range objects {
		if ns, ok := obj.(*corev1.Namespace); ok {
			levels[ns.Name] = ns.Labels[enforceLabel]
		}
	}
	var problems []string
	pods := 0
	for _, obj := range objects {
		switch o := obj.(type) {
		case *corev1.Service:
			problems = append(problems, fmt.Sprintf("Service %s/%s: nothing listens, so nothing needs a Service", o.Namespace, o.Name))
		case *networkingv1.Ingress:
			problems = append(problems, fmt.Sprintf("Ingress %s/%s: nothing listens, so nothing needs an Ingress", o.Namespace, o.Name))
		}
		name, meta, spec := podOf(obj)
		if spec == nil {
			continue
		}
		pods++
		fail := func(format string, args ...any) {
			problems = append(problems, name+": "+fmt.Sprintf(format, args...))
		}
		ns := namespaceOf(obj)
		level, defined := levels[ns]
		switch {
		case !defined:
			fail("its namespace %q is not defined in this rendering, so its Pod Security level is unknown", ns)
		case level == "":
			fail("its namespace %q has no %s label", ns, enforceLabel)
		case level != string(psa.LevelRestricted) && level != string(psa.LevelPrivileged):
			fail("its namespace %q enforces %q: use restricted (or privileged for host access)", ns, level)
		}
		for _, result := range evaluator.EvaluatePod(restricted, meta, spec) {
			if result.Allowed {
				continue
			}
			if level == string(psa.LevelPrivileged) && hostExceptions[result.ForbiddenReason] {
				continue
			}
			fail("violates the restricted Pod Security Standard: %s (%s)", result.ForbiddenReason, result.ForbiddenDetail)
		}
		if level == string(psa.LevelPrivileged) {
			problems = append(problems, hostAccess(name, spec)...)
		}
		problems = append(problems, containers(name, spec)...)
	}
	if pods == 0 {
		problems = append(problems, "the rendering holds no pod at all")
	}
	return problems
}

// hostAccess checks what a pod in a privileged namespace does with the host.
func hostAccess(name string, spec *corev1.PodSpec) []string {
	var problems []string
	if spec.HostPID || spec.HostIPC {
		problems = append(problems, name+": shares the host's PID or IPC namespace (only hostNetwork is needed)")
	}
	hostVolumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.HostPath == nil {
			s := v.VolumeSource
			if s.ConfigMap == nil && s.Secret == nil && s.EmptyDir == nil && s.Projected == nil &&
				s.DownwardAPI == nil && s.PersistentVolumeClaim == nil && s.CSI == nil && s.Ephemeral == nil {
				problems = append(problems, fmt.Sprintf("%s: volume %s is of a type the restricted standard forbids (only hostPath is excepted)", name, v.Name))
			}
			continue
		}
		hostVolumes[v.Name] = true
		if !allowedHostPaths[v.HostPath.Path] {
			problems = append(problems, fmt.Sprintf("%s: mounts host path %s (only /proc, /sys and / are allowed)", name, v.HostPath.Path))
		}
	}
	for _, c := range allContainers(spec) {
		for _, m := range c.VolumeMounts {
			if hostVolumes[m.Name] && !m.ReadOnly {
				problems = append(problems, fmt.Sprintf("%s: container %s mounts host volume %s writable", name, c.Name, m.Name))
			}
		}
	}
	return problems
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	out := append([]corev1.Container{}, spec.InitContainers...)
	return append(out, spec.Containers...)
}

// containers checks what the Pod Security Standard leaves out.
func containers(name string, spec *corev1.PodSpec) []string {
	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		fail("mounts a service account token (set automountServiceAccountToken: false)")
	}
	for _, c := range allContainers(spec) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("container %s: root file system not read-only", c.Name)
		}
		if len(c.Ports) > 0 {
			fail("container %s: declares ports, but nothing in it may listen for the cluster", c.Name)
		}
		for kind, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
			if probe == nil {
				continue
			}
			if probe.HTTPGet != nil || probe.TCPSocket != nil || probe.GRPC != nil {
				fail("container %s: %s probe connects to the pod, where nothing listens (use an exec probe)", c.Name, kind)
			}
		}
	}
	for _, c := range spec.Containers {
		if c.LivenessProbe == nil || c.LivenessProbe.Exec == nil {
			fail("container %s: no exec liveness probe", c.Name)
		}
	}
	return problems
}
