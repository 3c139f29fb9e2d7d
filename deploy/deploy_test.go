// Package deploy holds deployment files; these tests load them with the
// parsers of the tools that run them: the Compose loader (with the Compose
// specification's schema), Kubernetes' API types decoded strictly, and
// systemd-analyze verify.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	k8syaml "sigs.k8s.io/yaml"
)

// Every YAML file of the folder parses, every document of it.
func TestYAMLParses(t *testing.T) {
	var files []string
	filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		for _, err := range yamlDocuments(t, f, func([]byte) {}) {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// yamlDocuments calls each with the bytes of every document of a YAML file
// and returns the errors of those that do not parse.
func yamlDocuments(t *testing.T, path string, each func(doc []byte)) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return errs
		} else if err != nil {
			return append(errs, err)
		}
		if doc == nil {
			continue
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		each(out)
	}
}

// imageUser is the numeric user the Dockerfile runs as.
func imageUser(t *testing.T) int64 {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+)(:\d+)?$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("Dockerfile: no USER with a numeric id; Kubernetes' runAsNonRoot cannot check a user name")
	}
	var uid int64
	for _, c := range m[1] {
		uid = uid*10 + int64(c-'0')
	}
	if uid == 0 {
		t.Fatal("Dockerfile runs as root")
	}
	return uid
}

// The compose file loads with the Compose loader and its schema, and
// holds what a site needs: NATS published on the host's loopback for the
// host-network sensor, the ClickHouse variables the Grafana datasource
// provisioning reads, a restart policy on every service, health checks
// on the servers the jobs wait for.
func TestComposeLoads(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithName("mcpwatch"), cli.WithWorkingDirectory("."),
		cli.WithEnv([]string{"MCPWATCH_CLICKHOUSE_PASSWORD=test"}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	services := project.Services
	for _, name := range []string{"nats", "clickhouse", "sensor", "detect", "store", "grafana"} {
		if _, ok := services[name]; !ok {
			t.Fatalf("no service %s", name)
		}
	}
	for name, s := range services {
		if s.Restart != "unless-stopped" && s.Restart != "always" {
			t.Errorf("service %s: restart %q, want unless-stopped", name, s.Restart)
		}
		for dep, d := range s.DependsOn {
			if services[dep].HealthCheck == nil || d.Condition != "service_healthy" {
				t.Errorf("service %s waits for %s (%s) without its health check", name, dep, d.Condition)
			}
		}
	}
	if !slices.ContainsFunc(services["nats"].Ports, func(p composetypes.ServicePortConfig) bool {
		return p.Target == 4222 && p.Published == "4222" && p.HostIP == "127.0.0.1"
	}) {
		t.Errorf("nats publishes %+v, want 127.0.0.1:4222 for the host-network sensor", services["nats"].Ports)
	}
	if s := services["sensor"]; s.NetworkMode != "host" || !slices.Contains([]string(s.Command), "nats://127.0.0.1:4222") {
		t.Errorf("sensor: network %q, command %v", s.NetworkMode, s.Command)
	}

	provisioning, err := os.ReadFile("../dashboards/provisioning/datasources/clickhouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\$\{(MCPWATCH_[A-Z_]+)\}`).FindAllStringSubmatch(string(provisioning), -1)
	if len(used) == 0 {
		t.Fatal("the datasource provisioning reads no MCPWATCH_ variables")
	}
	for _, m := range used {
		if v, ok := services["grafana"].Environment[m[1]]; !ok || v == nil || *v == "" {
			t.Errorf("grafana lacks %s, which the datasource provisioning reads", m[1])
		}
	}
}

// The Kubernetes manifests decode strictly into the API's types (an
// unknown or misplaced field fails), every pod runs as the image's numeric
// user with runAsNonRoot, only the sensor adds a capability (NET_RAW), the
// sensor reads the shared token key Secret, and every long-running
// container has probes.
func TestKubernetesManifests(t *testing.T) {
	uid := imageUser(t)
	var pods []workload
	errs := yamlDocuments(t, "kubernetes/mcpwatch.yaml", func(doc []byte) {
		var meta struct{ Kind string }
		if err := k8syaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.Kind {
		case "Namespace":
			obj = &corev1.Namespace{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		case "DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "Deployment":
			obj = &appsv1.Deployment{}
		default:
			t.Errorf("unexpected kind %q", meta.Kind)
			return
		}
		if err := k8syaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %v", meta.Kind, err)
			return
		}
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			pods = append(pods, workload{o.Name, o.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			pods = append(pods, workload{o.Name, o.Spec.Template.Spec})
		case *appsv1.Deployment:
			pods = append(pods, workload{o.Name, o.Spec.Template.Spec})
		}
	})
	for _, err := range errs {
		t.Error(err)
	}
	if len(pods) != 3 {
		t.Fatalf("found %d workloads, want the sensor, detect and store", len(pods))
	}
	for _, p := range pods {
		sc := p.spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid {
			t.Errorf("%s: pod security context %+v, want runAsNonRoot and runAsUser %d (the image's USER)", p.name, sc, uid)
		}
		for _, c := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
			caps := c.SecurityContext.Capabilities
			if caps == nil || !slices.Contains(caps.Drop, "ALL") {
				t.Errorf("%s/%s: capabilities %+v, want ALL dropped", p.name, c.Name, caps)
				continue
			}
			want := []corev1.Capability(nil)
			if p.name == "mcpwatch-sensor" {
				want = []corev1.Capability{"NET_RAW"}
			}
			if !slices.Equal(caps.Add, want) {
				t.Errorf("%s/%s: adds capabilities %v, want %v", p.name, c.Name, caps.Add, want)
			}
		}
		for _, c := range p.spec.Containers {
			if c.LivenessProbe == nil || c.ReadinessProbe == nil {
				t.Errorf("%s/%s: no liveness or readiness probe", p.name, c.Name)
			}
		}
		if p.name == "mcpwatch-sensor" && !slices.ContainsFunc(p.spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "mcpwatch-token-key"
		}) {
			t.Errorf("%s: does not mount the shared token key Secret", p.name)
		}
	}
}

// workload is the pod template of a DaemonSet, StatefulSet or Deployment.
type workload struct {
	name string
	spec corev1.PodSpec
}

// The systemd units pass systemd-analyze verify: unknown keys, bad values
// and a missing binary are reported. The units run /usr/local/bin/mcpwatch,
// which the test machine need not have: copies of them run a stand-in.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze not found (Debian package systemd)")
		}
		t.Skip("systemd-analyze not found (Debian package systemd)")
	}
	dir := t.TempDir()
	standIn := filepath.Join(dir, "mcpwatch")
	if err := os.WriteFile(standIn, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) < 3 {
		t.Fatalf("found only %v", units)
	}
	var args []string
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		copied := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(copied, bytes.ReplaceAll(data, []byte("/usr/local/bin/mcpwatch"), []byte(standIn)), 0o644); err != nil {
			t.Fatal(err)
		}
		// A template is verified through an instance of it.
		args = append(args, strings.Replace(copied, "@.service", "@eth1.service", 1))
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no", "--generators=no"}, args...)...).CombinedOutput()
	// verify only warns about unknown keys; any word from it is a finding.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
