package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
)

func randomKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// encryptionConfig is an EncryptionConfiguration with one provider block
// for resources.
func encryptionConfig(resources []string, provider string) string {
	s := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources:\n"
	for _, r := range resources {
		s += "  - " + r + "\n"
	}
	return s + "  providers:\n" + provider
}

func secretboxProvider(key string) string {
	return "  - secretbox:\n      keys:\n      - name: key1\n        secret: " + key + "\n"
}

func aesgcmProvider(key string) string {
	return "  - aesgcm:\n      keys:\n      - name: key1\n        secret: " + key + "\n"
}

func kmsv2Provider(socket string) string {
	return "  - kms:\n      apiVersion: v2\n      name: bench-kms\n      endpoint: unix://" + socket + "\n      timeout: 3s\n"
}

const identityProvider = "  - identity: {}\n"

var secretfedResources = []string{"federatedsecrets.secretfed.io", "federatedclusters.secretfed.io"}

// secretfedScratch restarts secretfed on a scratch data directory, without
// its loops, with an encryption configuration: the API alone is measured.
func (r *Runner) secretfedScratch(dir, provider string, extra string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "encryption.yaml")
	if err := os.WriteFile(cfg, []byte(encryptionConfig(secretfedResources, provider)), 0o600); err != nil {
		return err
	}
	args := fmt.Sprintf("--data-dir=%s/data --encryption-provider-config=%s --controllers=false %s", dir, cfg, extra)
	return r.Bed.RestartSecretfed(args)
}

// startKubeAPIServer starts a kube-apiserver like the bed's members but with
// an encryption configuration, on the bed's etcd under its own prefix.
func (r *Runner) startKubeAPIServer(ctx context.Context, dir, provider string) (*rest.Config, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	cfg := filepath.Join(dir, "encryption.yaml")
	if err := os.WriteFile(cfg, []byte(encryptionConfig([]string{"secrets"}, provider)), 0o600); err != nil {
		return nil, nil, err
	}
	env := r.Bed.F.Env
	certs := env["CERT_DIR"]
	port := strconv.Itoa(extraAPIServerPort)
	logPath := filepath.Join(r.Work, "logs", "fig6-kube-apiserver.log")
	stop, err := startProcess(logPath, filepath.Join(r.Repo, "bin", "kube-apiserver"),
		"--etcd-servers="+env["ETCD_URL"], "--etcd-prefix=/bench-kas-"+r.RunID,
		"--bind-address=127.0.0.1", "--secure-port="+port, "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--tls-cert-file="+certs+"/apiserver-member1.crt", "--tls-private-key-file="+certs+"/apiserver-member1.key",
		"--client-ca-file="+certs+"/ca.crt",
		"--service-account-issuer=https://127.0.0.1:"+port, "--service-account-key-file="+certs+"/sa-member1.pub",
		"--service-account-signing-key-file="+certs+"/sa-member1.key", "--authorization-mode=RBAC",
		"--cert-dir="+dir, "--encryption-provider-config="+cfg, "--v=1")
	if err != nil {
		return nil, nil, err
	}
	rc := rest.CopyConfig(r.Bed.MemberCfg[r.Bed.Members[0]])
	rc.Host = "https://127.0.0.1:" + port
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		stop()
		return nil, nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		body, err := cs.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("kube-apiserver for figure 6 not ready in 90 s:\n%s", tail(logPath, 20))
		}
		time.Sleep(500 * time.Millisecond)
	}
	return rc, stop, nil
}

// Figure 6: API cost.
func (r *Runner) fig6(ctx context.Context, fig *Figure) error {
	fig.Title = "API cost"
	n := r.n(200)
	nGet := 5 * n
	nList := max(1, n/2)
	ns := "bench-f6"
	dir := filepath.Join(r.Work, "fig6")
	defer os.RemoveAll(dir)
	key := randomKey()
	fig.Method = fmt.Sprintf("Both servers are called directly (no aggregator) with the same admin client certificate and use the same encryption "+
		"provider: secretbox with a 32-byte key. secretfed runs on a fresh data directory with `--controllers=false`, so only its API serves; "+
		"the kube-apiserver is an extra one like the bed's members (`--encryption-provider-config` for `secrets`) on the bed's etcd, while secretfed "+
		"uses its embedded etcd. One at a time, alternating between the servers: %d creates of a FederatedSecret without placement / a Secret "+
		"with the same data, %d gets of them, %d lists of the namespace (%d objects each). The target compares JSON on both sides (FederatedSecrets have no protobuf encoding); a third series shows kube-apiserver with protobuf, which client-go uses for core types by default.", n, nGet, nList, n)
	if err := r.secretfedScratch(filepath.Join(dir, "secretfed"), secretboxProvider(key), ""); err != nil {
		return err
	}
	kasCfg, stop, err := r.startKubeAPIServer(ctx, filepath.Join(dir, "kube-apiserver"), secretboxProvider(key))
	if err != nil {
		return err
	}
	defer stop()
	// FederatedSecrets exist in JSON only; client-go asks kube-apiserver
	// for protobuf by default. The target compares the same wire format.
	jsonCfg := rest.CopyConfig(kasCfg)
	jsonCfg.ContentType = runtime.ContentTypeJSON
	jsonCfg.AcceptContentTypes = runtime.ContentTypeJSON
	kas, err := kubernetes.NewForConfig(jsonCfg)
	if err != nil {
		return err
	}
	kasProto, err := kubernetes.NewForConfig(kasCfg)
	if err != nil {
		return err
	}
	if err := r.Bed.EnsureNamespace(ctx, ns, false); err != nil {
		return err
	}
	protoNS := ns + "-protobuf"
	for _, n := range []string{ns, protoNS} {
		if _, err := kas.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	sf := r.Bed.SecretfedDirect.SecretfedV1alpha1().FederatedSecrets(ns)
	core, coreProto := kas.CoreV1().Secrets(ns), kasProto.CoreV1().Secrets(protoNS)

	servers := []string{"secretfed", "kube-apiserver", "kube-apiserver, protobuf"}
	type op struct {
		name string
		n    int
		call [3]func(i int) error
	}
	ops := []op{
		{"create", n, [3]func(int) error{
			func(i int) error {
				_, err := sf.Create(ctx, r.fedSecret(ns, fmt.Sprintf("a-%d", i), "api", nil), metav1.CreateOptions{})
				return err
			},
			func(i int) error {
				_, err := core.Create(ctx, r.directSecret(ns, fmt.Sprintf("a-%d", i), "api"), metav1.CreateOptions{})
				return err
			},
			func(i int) error {
				_, err := coreProto.Create(ctx, r.directSecret(protoNS, fmt.Sprintf("a-%d", i), "api"), metav1.CreateOptions{})
				return err
			}}},
		{"get", nGet, [3]func(int) error{
			func(i int) error {
				_, err := sf.Get(ctx, fmt.Sprintf("a-%d", (i*7)%n), metav1.GetOptions{})
				return err
			},
			func(i int) error {
				_, err := core.Get(ctx, fmt.Sprintf("a-%d", (i*7)%n), metav1.GetOptions{})
				return err
			},
			func(i int) error {
				_, err := coreProto.Get(ctx, fmt.Sprintf("a-%d", (i*7)%n), metav1.GetOptions{})
				return err
			}}},
		{"list", nList, [3]func(int) error{
			func(int) error { _, err := sf.List(ctx, metav1.ListOptions{}); return err },
			func(int) error { _, err := core.List(ctx, metav1.ListOptions{}); return err },
			func(int) error { _, err := coreProto.List(ctx, metav1.ListOptions{}); return err }}},
	}
	// Warm-up: connections, caches, the delegated authorizer.
	for i := 0; i < 5; i++ {
		_, _ = sf.List(ctx, metav1.ListOptions{})
		_, _ = core.List(ctx, metav1.ListOptions{})
		_, _ = coreProto.List(ctx, metav1.ListOptions{})
	}
	fig.Header = []string{"operation", "server", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"}
	var rows [][]string
	for _, o := range ops {
		lat := make([][]float64, len(servers))
		for i := 0; i < o.n; i++ {
			// Rotate the order so that no server always goes first.
			for k := 0; k < len(servers); k++ {
				s := (i + k) % len(servers)
				t := time.Now()
				if err := o.call[s](i); err != nil {
					return fmt.Errorf("%s on %s, %d: %w", o.name, servers[s], i, err)
				}
				lat[s] = append(lat[s], ms(time.Since(t)))
			}
		}
		ds, dc, dp := NewDist(lat[0]), NewDist(lat[1]), NewDist(lat[2])
		fig.Rows = append(fig.Rows,
			append([]string{o.name, "secretfed (JSON)"}, distRow("", ds)[1:]...),
			append([]string{o.name, "kube-apiserver (JSON)"}, distRow("", dc)[1:]...),
			[]string{o.name, "**ratio**", "", "**" + ratio(ds.P50, dc.P50) + "**", ratio(ds.P90, dc.P90), ratio(ds.P99, dc.P99), ratio(ds.Max, dc.Max)},
			append([]string{o.name, "kube-apiserver (protobuf: client-go's default for core types)"}, distRow("", dp)[1:]...))
		fig.Targets = append(fig.Targets, Target{What: o.name + " p50 ratio", Value: ds.P50 / dc.P50, Limit: 1.2, AtMost: true, Unit: "×"})
		r.series("fig6-"+o.name+"-secretfed", lat[0])
		r.series("fig6-"+o.name+"-kube-apiserver", lat[1])
		for s := range servers {
			for i, v := range lat[s] {
				rows = append(rows, []string{o.name, servers[s], fmt.Sprint(i), f3(v)})
			}
		}
	}
	// Where did the lists come from: the watch cache, or etcd?
	listSource := func(body []byte, resource string) string {
		m := parseMetrics(string(body))
		var parts []string
		for _, smp := range m["apiserver_watch_cache_consistent_read_total"] {
			if smp.Labels["resource"] == resource && smp.Value > 0 {
				parts = append(parts, fmt.Sprintf("%.0f consistent reads from the watch cache (fallback=%s, success=%s)", smp.Value, smp.Labels["fallback"], smp.Labels["success"]))
			}
		}
		fetched := m.Sum("apiserver_storage_list_fetched_objects_total", map[string]string{"resource": resource})
		parts = append(parts, fmt.Sprintf("%.0f objects fetched from etcd by lists", fetched))
		return strings.Join(parts, "; ")
	}
	if body, err := r.Bed.SecretfedRaw.Get().AbsPath("/metrics").DoRaw(ctx); err == nil {
		fig.Notes = append(fig.Notes, "secretfed: "+listSource(body, "federatedsecrets.secretfed.io"))
	}
	if body, err := kasProto.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx); err == nil {
		fig.Notes = append(fig.Notes, "kube-apiserver: "+listSource(body, "secrets"))
	}
	fig.Notes = append(fig.Notes, "The target is read on p50 (the p99 of 200 sequential calls on a shared 2-core machine is mostly scheduling noise); p90 and p99 ratios are shown beside it.")
	fig.CSV = "fig6-api-cost.csv"
	return writeCSV(filepath.Join(r.Results, fig.CSV), []string{"operation", "server", "sample", "latency_ms"}, rows)
}

// Figure 7: encryption cost.
func (r *Runner) fig7(ctx context.Context, fig *Figure) error {
	fig.Title = "Encryption cost"
	n := r.n(1000)
	ns := "bench-f7"
	dir := filepath.Join(r.Work, "fig7")
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	socket := filepath.Join(dir, "kms.sock")
	keyHex := make([]byte, 32)
	_, _ = rand.Read(keyHex)
	stopKMS, err := startProcess(filepath.Join(r.Work, "logs", "fig7-kms-test-plugin.log"), filepath.Join(r.Repo, "bin", "kms-test-plugin"),
		"--socket", socket, "--key-hex", hex.EncodeToString(keyHex))
	if err != nil {
		return err
	}
	defer stopKMS()
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	providers := []struct{ name, cfg, extra string }{
		{"identity", identityProvider, "--allow-unencrypted-storage"},
		{"secretbox", secretboxProvider(randomKey()), ""},
		{"aesgcm", aesgcmProvider(randomKey()), ""},
		{"kmsv2", kmsv2Provider(socket), ""},
	}
	fig.Method = fmt.Sprintf("secretfed alone (`--controllers=false`, a fresh data directory per measurement) with each provider as the first for "+
		"federatedsecrets and federatedclusters; KMS v2 is `bin/kms-test-plugin` (AES-GCM wrapping of the DEK, over a unix socket). "+
		"%d FederatedSecrets (no placement, the same data as elsewhere) created directly on the secretfed port by %d concurrent clients, after 20 "+
		"warm-up creates; throughput = creates per second. %d rounds, the provider order rotating each round; the median per provider is compared "+
		"with identity's.", n, r.Concurrency, r.Rounds)
	if err := r.Bed.EnsureNamespace(ctx, ns, false); err != nil {
		return err
	}
	rates := map[string][]float64{}
	var rows [][]string
	for round := 0; round < r.Rounds; round++ {
		for k := range providers {
			p := providers[(k+round)%len(providers)]
			if err := r.secretfedScratch(filepath.Join(dir, fmt.Sprintf("%s-%d", p.name, round)), p.cfg, p.extra); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			client, err := versioned.NewForConfig(r.Bed.SecretfedCfg)
			if err != nil {
				return err
			}
			fss := client.SecretfedV1alpha1().FederatedSecrets(ns)
			for i := 0; i < 20; i++ {
				if _, err := fss.Create(ctx, r.fedSecret(ns, fmt.Sprintf("w-%d", i), "enc", nil), metav1.CreateOptions{}); err != nil {
					return fmt.Errorf("%s warm-up: %w", p.name, err)
				}
			}
			load := loadAvg()
			start := time.Now()
			if err := runConcurrently(ctx, n, r.Concurrency, func(i int) error {
				_, err := fss.Create(ctx, r.fedSecret(ns, fmt.Sprintf("e-%d", i), "enc", nil), metav1.CreateOptions{})
				return err
			}); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			secs := time.Since(start).Seconds()
			rate := float64(n) / secs
			rates[p.name] = append(rates[p.name], rate)
			rows = append(rows, []string{fmt.Sprint(round), p.name, fmt.Sprint(n), f3(secs), f2(rate), f2(load[0])})
			logf("figure 7: round %d %s: %.1f creates/s", round, p.name, rate)
		}
	}
	base := Median(rates["identity"])
	fig.Header = []string{"provider", "creates/s (median)", "rounds", "ratio to identity"}
	for _, p := range providers {
		med := Median(rates[p.name])
		var all string
		for i, x := range rates[p.name] {
			if i > 0 {
				all += ", "
			}
			all += f1(x)
		}
		fig.Rows = append(fig.Rows, []string{p.name, f1(med), all, ratio(med, base)})
		switch p.name {
		case "secretbox", "aesgcm":
			fig.Targets = append(fig.Targets, Target{What: p.name + " / identity", Value: med / base, Limit: 0.9, Unit: "×"})
		case "kmsv2":
			fig.Targets = append(fig.Targets, Target{What: p.name + " / identity", Value: med / base, Limit: 0.8, Unit: "×"})
		}
	}
	fig.CSV = "fig7-encryption.csv"
	return writeCSV(filepath.Join(r.Results, fig.CSV), []string{"round", "provider", "creates", "seconds", "creates_per_s", "load1"}, rows)
}
